import assert from "node:assert/strict";
import { DatasetError, DEFAULT_LIMITS } from "../actors/task_center/dataset/limits.ts";
import { datasetDir } from "../core/paths.ts";
import { prepareDatasetDir } from "../actors/task_center/dataset/prepare.ts";
import { JSONL, rejection } from "./task_center_fixtures.ts";

const HUB = "http://hub.test";

/**
 * The two Hub routes @huggingface/hub's listFiles / downloadFile use, answered from `files` at one
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
