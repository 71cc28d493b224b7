import assert from "node:assert/strict";
import { DatasetError, DEFAULT_LIMITS } from "../actors/task_center/dataset/limits.ts";
import { datasetDir } from "../core/paths.ts";
import { prepareDatasetDir } from "../actors/task_center/dataset/prepare.ts";
import { DatasetSource } from "../core/task.ts";
import { type Call, recordingFetch } from "./dataset_fetch_fixtures.ts";
import { JSONL, rejection } from "./task_center_fixtures.ts";

const HUB = "http://hub.test";

/**
 * The two Hub routes a dataset download uses (tree listing, resolve), answered from `files` at one
 * revision; every request is logged so the test can check the pinned revision was asked for.
 */
function hubFetch(
  repo: string,
  revision: string,
  files: Record<string, string>,
  seen: string[],
): typeof fetch {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    seen.push(url.pathname);
    const tree = `/api/datasets/${repo}/tree/${revision}`;
    if (url.pathname.startsWith(tree)) {
      const prefix = url.pathname.slice(tree.length + 1);
      const entries = Object.entries(files)
        .filter(([p]) => !prefix || p.startsWith(`${prefix}/`))
        .map(([path, text]) => ({
          type: "file",
          path,
          size: new TextEncoder().encode(text).length,
          oid: "x",
        }));
      return Promise.resolve(Response.json(entries));
    }
    const resolve = `/datasets/${repo}/resolve/${revision}/`;
    const body = url.pathname.startsWith(resolve)
      ? files[decodeURIComponent(url.pathname.slice(resolve.length))]
      : undefined;
    if (body === undefined) return Promise.resolve(new Response("no", { status: 404 }));
    const bytes = new TextEncoder().encode(body);
    const range = new Headers(init?.headers).get("range")?.match(/bytes=(\d+)-(\d*)/);
    const from = range ? Number(range[1]) : 0;
    const to = range && range[2] ? Number(range[2]) + 1 : bytes.length;
    return Promise.resolve(
      new Response(bytes.slice(from, to), {
        status: range ? 206 : 200,
        headers: { "content-range": `bytes ${from}-${to - 1}/${bytes.length}`, etag: '"e"' },
      }),
    );
  };
}

Deno.test("prepareDatasetDir() downloads an HF dataset folder at the pinned revision", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "dataset_hf_" });
  const seen: string[] = [];
  const files = {
    "data/train.jsonl": JSONL,
    "data/extra/more.jsonl": '{"text": "x"}\n',
    "README.md": "# card",
  };
  const deps = {
    dataDir,
    hubUrl: HUB,
    fetch: hubFetch("org/toy", "abc123", files, seen),
    limits: DEFAULT_LIMITS,
  };
  const source = { kind: "hf" as const, repo: "org/toy", revision: "abc123", path: "data" };
  const m = await prepareDatasetDir("t-hf", source, deps);
  assert.deepEqual(m.files.map((f) => f.path), ["extra/more.jsonl", "train.jsonl"]);
  assert.deepEqual([m.packing, m.format, m.sample_count], ["hf", "jsonl", 4]);
  assert.equal(await Deno.readTextFile(`${datasetDir(dataDir, "t-hf")}/train.jsonl`), JSONL);
  assert.ok(seen.every((p) => p.includes("abc123")), `every request names the revision: ${seen.join(", ")}`);
  await Deno.remove(dataDir, { recursive: true });
});

Deno.test("prepareDatasetDir() refuses an HF listing with a traversal path or too many files", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "dataset_hf_" });
  const source = { kind: "hf" as const, repo: "org/toy", revision: "main", path: null };
  const evil = {
    dataDir,
    hubUrl: HUB,
    fetch: hubFetch("org/toy", "main", { "../x.jsonl": "{}\n" }, []),
    limits: DEFAULT_LIMITS,
  };
  const err = await rejection(() => prepareDatasetDir("t-hf", source, evil), DatasetError);
  assert.match(err.message, /entry "\.\.\/x\.jsonl": path traversal/);
  const many = Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`f${i}.jsonl`, "{}\n"]));
  const deps = {
    dataDir,
    hubUrl: HUB,
    fetch: hubFetch("org/toy", "main", many, []),
    limits: { ...DEFAULT_LIMITS, maxFiles: 3 },
  };
  assert.match(
    (await rejection(() => prepareDatasetDir("t-hf", source, deps), DatasetError)).message,
    /more than 3 files/,
  );
  await Deno.remove(dataDir, { recursive: true });
});

Deno.test("prepareDatasetDir() counts every file of an HF dataset against the miner's max_bytes", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "dataset_hf_" });
  const source = { kind: "hf" as const, repo: "org/toy", revision: "main", path: null };
  const files = { "a.jsonl": JSONL, "b.jsonl": JSONL };
  const deps = {
    dataDir,
    hubUrl: HUB,
    fetch: hubFetch("org/toy", "main", files, []),
    limits: DEFAULT_LIMITS,
    dataset: { max_bytes: JSONL.length + 1 }, // room for one file, not both
  };
  const err = await rejection(() => prepareDatasetDir("t-hf", source, deps), DatasetError);
  assert.equal(err.reason, "dataset_too_large");
  await Deno.remove(dataDir, { recursive: true });
});

Deno.test("DatasetSource refuses a Hub revision or path that steps to another route", () => {
  const hf = (revision: string, path: string | null = null) => ({
    kind: "hf",
    repo: "org/toy",
    revision,
    path,
  });
  for (
    const revision of [
      "../../../../api/whoami-v2",
      "main/../x",
      "/main",
      "-main",
      "a//b",
      "a.lock",
      "main/",
      "main.",
      "a@{1}",
      "a b",
      "a\u0001b",
      "a~1",
      "a^",
      "a:b",
      "a?",
      "a*",
      "a[",
      "a\\b",
      ".hidden",
      "@",
    ]
  ) {
    const res = DatasetSource.safeParse(hf(revision));
    assert.ok(!res.success, `revision ${JSON.stringify(revision)} accepted`);
    assert.deepEqual(res.error.issues[0].path, ["revision"]);
    assert.match(res.error.issues[0].message, /expected a branch, tag or 40-hex commit sha/);
  }
  for (const path of ["../../..", "data/../../x", "/etc", "./data", "a//b", "a\\b", "data/", ""]) {
    const res = DatasetSource.safeParse(hf("main", path));
    assert.ok(!res.success, `path ${JSON.stringify(path)} accepted`);
    assert.deepEqual(res.error.issues[0].path, ["path"]);
    assert.match(res.error.issues[0].message, /expected a relative path/);
  }
  assert.ok(!DatasetSource.safeParse({ kind: "hf", repo: "../..", revision: "main" }).success);
  for (
    const revision of ["main", "v1.0", "refs/pr/1", "refs/convert/parquet", "a".repeat(40), "0".repeat(40)]
  ) {
    assert.ok(DatasetSource.safeParse(hf(revision, "data/train")).success, revision);
  }
});

Deno.test("prepareDatasetDir() sends the HF token only to the Hub's origin", async () => {
  const TOKEN = "hf_secretToken";
  const calls: Call[] = [];
  const files: Record<string, string> = { "train.jsonl": JSONL };
  // A listing whose next page lies on another origin, and a file that redirects to a CDN.
  const answer = (url: URL): Response => {
    if (url.origin === HUB && url.pathname === "/api/datasets/org/toy/tree/main") {
      const entries = [{ type: "file", path: "train.jsonl", size: JSONL.length, oid: "x" }];
      return Response.json(entries, { headers: { link: '<http://elsewhere.example/page2>; rel="next"' } });
    }
    if (url.origin === "http://elsewhere.example") return Response.json([]);
    if (url.origin === HUB && url.pathname === "/datasets/org/toy/resolve/main/train.jsonl") {
      return new Response(null, { status: 302, headers: { location: "https://cdn.example/blob?sig=1" } });
    }
    if (url.origin === "https://cdn.example") return new Response(files["train.jsonl"]);
    return new Response("no", { status: 404 });
  };
  // Follows redirects itself unless told "manual", as fetch does (dropping the token across origins).
  const record = recordingFetch(calls, answer);
  const fetcher: typeof fetch = async (input, init) => {
    const res = await record(input, init);
    const location = res.headers.get("location");
    if (init?.redirect === "manual" || !location) return res;
    const headers = new Headers(init?.headers);
    headers.delete("authorization");
    return record(location, { ...init, headers });
  };
  const dataDir = await Deno.makeTempDir({ prefix: "fetch_safety_" });
  try {
    const deps = {
      dataDir,
      hubUrl: HUB,
      hfToken: TOKEN,
      limits: DEFAULT_LIMITS,
      fetch: fetcher,
      resolveDns: () => Promise.resolve(["93.184.215.14"]),
    };
    const source = DatasetSource.parse({ kind: "hf", repo: "org/toy", revision: "main" });
    const outcome = await prepareDatasetDir("t-hf", source, deps).catch((e: Error) => e);
    const withToken = calls.filter((c) => c.authorization !== null);
    assert.ok(withToken.length > 0, "the Hub got the token");
    for (const c of withToken) {
      assert.equal(new URL(c.url).origin, HUB, `the token went to ${c.url}`);
      assert.equal(c.authorization, `Bearer ${TOKEN}`);
    }
    assert.ok(calls.some((c) => c.url.startsWith("https://cdn.example/")), "the CDN was asked, without it");
    assert.ok(!(outcome instanceof Error), `the download failed: ${outcome}`);
    assert.deepEqual(outcome.files.map((f) => f.path), ["train.jsonl"]);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
