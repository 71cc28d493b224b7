/**
 * The job files server on a real socket (127.0.0.1, port 0): what a Ray node may read and write with
 * its per-job URLs, and that the token in those URLs never comes back in a body or a log record.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { type JobFilesServer, startJobFilesServer } from "../actors/ray/job_files_server.ts";
import type { JobClaims } from "../actors/ray/job_tokens.ts";
import type { DatasetManifest } from "../core/manifest.ts";
import { datasetDir, manifestPath, outputDir, workDir } from "../core/paths.ts";
import { waitFor } from "./helpers.ts";

const TASK = "t-ray-1";
const KEY = new Uint8Array(32).map((_, i) => 255 - i);
const MAX_BYTES = 1_000;
const SECRET_TEXT = "not-validated-do-not-serve";
const OUTSIDE_TEXT = "outside-the-dataset";

type Fixture = AsyncDisposable & {
  dataDir: string;
  server: JobFilesServer;
  clock: { nowMs: number };
  records: LogRecord[];
  read: string;
  write: string;
};

async function fixture(): Promise<Fixture> {
  const dataDir = await Deno.makeTempDir({ prefix: "satori-ray-files-" });
  await Deno.mkdir(workDir(dataDir, TASK), { recursive: true });
  await Deno.writeTextFile(join(workDir(dataDir, TASK), "task.json"), '{"id":"t-ray-1"}');
  const ds = datasetDir(dataDir, TASK);
  await Deno.mkdir(join(ds, "sub"), { recursive: true });
  await Deno.writeTextFile(join(ds, "train.jsonl"), '{"text":"hello"}\n');
  await Deno.writeTextFile(join(ds, "sub", "img 1.png"), "png-bytes");
  await Deno.writeTextFile(join(ds, "secret.txt"), SECRET_TEXT); // on disk, never validated
  await Deno.writeTextFile(join(dataDir, "outside.txt"), OUTSIDE_TEXT);
  await Deno.symlink(join(dataDir, "outside.txt"), join(ds, "link.txt")); // listed, yet a link
  const file = (path: string, bytes: number) => ({ path, sha256: "0".repeat(64), bytes });
  const manifest: DatasetManifest = {
    schema_version: 1,
    task_id: TASK,
    source: { kind: "url", url: "https://example.com/d.jsonl", sha256: "1".repeat(64), max_bytes: 1_000 },
    packing: "plain",
    format: "jsonl",
    files: [file("link.txt", 19), file("sub/img 1.png", 9), file("train.jsonl", 17)],
    total_bytes: 45,
    sample_count: 1,
    preview: [],
  };
  await Deno.writeTextFile(manifestPath(dataDir, TASK), JSON.stringify(manifest));
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (r) => void records.push(r) },
    loggers: [
      { category: ["satori", "ray"], lowestLevel: "debug", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: [] },
    ],
  });
  const clock = { nowMs: 1_000 };
  const server = await startJobFilesServer({
    dataDir,
    key: KEY,
    hostname: "127.0.0.1",
    port: 0,
    maxFileBytes: MAX_BYTES,
    clock: { now: () => clock.nowMs },
  });
  const claims = (scope: JobClaims["scope"]): JobClaims => ({
    scope,
    taskId: TASK,
    submissionId: "satori-t-ray-1-a1",
    expiresMs: 10_000,
  });
  return {
    dataDir,
    server,
    clock,
    records,
    read: await server.urlFor(claims("read")),
    write: await server.urlFor(claims("write")),
    async [Symbol.asyncDispose]() {
      await server.close();
      await reset();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

/** Status, headers and body text of one request; the body is always read, so nothing leaks. */
async function call(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** The token part of a job URL: `<base>/v1/<token>/`. */
const tokenOf = (url: string) => url.split("/v1/")[1].slice(0, -1);

Deno.test("startJobFilesServer() serves task.json, the manifest and listed dataset files to a read token", async () => {
  await using f = await fixture();
  assert.match(f.server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(f.read.startsWith(`${f.server.url}/v1/`) && f.read.endsWith("/"));
  const task = await call(`${f.read}task.json`);
  assert.deepEqual([task.status, task.body], [200, '{"id":"t-ray-1"}']);
  const manifest = await call(`${f.read}manifest.json`);
  assert.equal(manifest.status, 200);
  assert.equal(JSON.parse(manifest.body).task_id, TASK);
  const train = await call(`${f.read}dataset/train.jsonl`);
  assert.deepEqual([train.status, train.body, train.headers.get("content-length")], [
    200,
    '{"text":"hello"}\n',
    "17",
  ]);
  const img = await call(`${f.read}dataset/sub/img%201.png`);
  assert.deepEqual([img.status, img.body, img.headers.get("content-length")], [200, "png-bytes", "9"]);
  const head = await call(`${f.read}dataset/train.jsonl`, { method: "HEAD" });
  assert.deepEqual([head.status, head.body, head.headers.get("content-length")], [200, "", "17"]);
});

Deno.test("startJobFilesServer() reads no dataset file the manifest does not list, nor a listed link", async () => {
  await using f = await fixture();
  const attempts: [string, number][] = [
    ["dataset/secret.txt", 404], // in the folder, not in the manifest
    ["dataset/..%2F..%2Foutside.txt", 400],
    ["dataset/%2E%2E%2F%2E%2E%2Foutside.txt", 400],
    ["dataset/%2Fetc%2Fpasswd", 400],
    ["dataset/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd", 400],
    ["dataset/sub%5Cimg%201.png", 400],
    ["dataset/link.txt", 404], // listed, but a symlink out of the folder
    ["dataset/", 400],
  ];
  for (const [tail, status] of attempts) {
    const r = await call(`${f.read}${tail}`);
    assert.equal(r.status, status, `${tail}: ${r.body}`);
    assert.ok(!r.body.includes(SECRET_TEXT) && !r.body.includes(OUTSIDE_TEXT) && !r.body.includes("root:"));
  }
  // Literal dot segments are folded by the URL parser before they leave the client: never under dataset/.
  for (const tail of ["dataset/../../outside.txt", "dataset/%2e%2e/%2e%2e/%2e%2e/outside.txt"]) {
    const r = await call(`${f.read}${tail}`);
    assert.ok(r.status === 404 || r.status === 401, `${tail}: ${r.status}`);
    assert.ok(!r.body.includes(OUTSIDE_TEXT));
  }
});

Deno.test("startJobFilesServer() answers 403 to a read token's PUT and a write token's GET", async () => {
  await using f = await fixture();
  const put = await call(`${f.read}out/adapter.safetensors`, { method: "PUT", body: "weights" });
  assert.equal(put.status, 403);
  assert.match(JSON.parse(put.body).error, /allows read, not write/);
  await assert.rejects(Deno.stat(join(outputDir(f.dataDir, TASK), "adapter.safetensors")));
  for (const tail of ["task.json", "manifest.json", "dataset/train.jsonl"]) {
    const get = await call(`${f.write}${tail}`);
    assert.equal(get.status, 403, tail);
    assert.ok(!get.body.includes("hello") && !get.body.includes("t-ray-1"));
  }
});

Deno.test("startJobFilesServer() writes a PUT through a temp file and a rename, and a retry replaces it", async () => {
  await using f = await fixture();
  const out = outputDir(f.dataDir, TASK);
  const dir = join(out, "checkpoints", "step-1");
  const target = join(dir, "adapter.safetensors");
  // Hold the body half sent: the bytes so far exist only under a temp name.
  let send!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (send = c) });
  send.enqueue(new TextEncoder().encode("first-"));
  const pending = fetch(`${f.write}out/checkpoints/step-1/adapter.safetensors`, {
    method: "PUT",
    body,
    duplex: "half",
  } as RequestInit);
  try {
    await waitFor(async () => (await names(dir)).some((n) => n.endsWith(".part")), { what: "the temp file" });
    await assert.rejects(Deno.stat(target), Deno.errors.NotFound);
  } catch (e) {
    send.error(e); // end the upload, or the server's shutdown waits for it forever
    await pending.then((r) => r.body?.cancel(), () => {});
    throw e;
  }
  send.enqueue(new TextEncoder().encode("version"));
  send.close();
  const res = await pending;
  const ack = await res.json();
  assert.equal(res.status, 200);
  assert.deepEqual([ack.path, ack.bytes], ["checkpoints/step-1/adapter.safetensors", 13]);
  assert.equal(await Deno.readTextFile(target), "first-version");
  const again = await call(`${f.write}out/checkpoints/step-1/adapter.safetensors`, {
    method: "PUT",
    body: "v2",
  });
  assert.equal(again.status, 200);
  assert.equal(await Deno.readTextFile(target), "v2");
  assert.deepEqual(await names(dir), ["adapter.safetensors"]);
});

Deno.test("startJobFilesServer() answers 413 to a PUT over maxFileBytes and leaves nothing behind", async () => {
  await using f = await fixture();
  const out = outputDir(f.dataDir, TASK);
  const url = `${f.write}out/big.bin`;
  // Declared up front (Content-Length) and streamed without one (chunked): both stop at the cap.
  const declared = await call(url, { method: "PUT", body: new Uint8Array(MAX_BYTES + 1) });
  assert.equal(declared.status, 413);
  assert.match(JSON.parse(declared.body).error, /over the limit of 1000 bytes/);
  const chunks = [new Uint8Array(600), new Uint8Array(600)];
  const streamed = await call(url, {
    method: "PUT",
    body: ReadableStream.from(chunks),
    duplex: "half",
  } as RequestInit);
  assert.equal(streamed.status, 413);
  assert.deepEqual(await names(out), []);
  // At the cap is fine, and a later oversized retry keeps the good file.
  assert.equal((await call(url, { method: "PUT", body: new Uint8Array(MAX_BYTES) })).status, 200);
  assert.equal(
    (await call(url, { method: "PUT", body: ReadableStream.from(chunks), duplex: "half" } as RequestInit))
      .status,
    413,
  );
  assert.equal((await Deno.stat(join(out, "big.bin"))).size, MAX_BYTES);
  assert.deepEqual(await names(out), ["big.bin"]);
});

Deno.test("startJobFilesServer() refuses a PUT path that is not plain and relative, naming the problem", async () => {
  await using f = await fixture();
  const cases: [string, RegExp][] = [
    ["a%2F..%2F..%2Fescaped", /has a "\.\." segment/],
    ["%2Fabs", /is absolute/],
    ["a//b", /has an empty segment/],
    ["a%2F.%2Fb", /has a "\." segment/],
    ["a%5Cb", /contains a backslash/],
    ["a%00b", /contains a NUL byte/],
    ["a%ZZ", /not valid percent-encoding/],
    ["", /is empty/],
  ];
  for (const [tail, problem] of cases) {
    const r = await call(`${f.write}out/${tail}`, { method: "PUT", body: "x" });
    assert.equal(r.status, 400, tail);
    assert.match(JSON.parse(r.body).error, problem, tail);
  }
  assert.deepEqual(await names(outputDir(f.dataDir, TASK)), []);
  await assert.rejects(Deno.stat(join(workDir(f.dataDir, TASK), "escaped")));
});

Deno.test("startJobFilesServer() answers 401 to an expired, forged or malformed token", async () => {
  await using f = await fixture();
  assert.equal((await call(`${f.read}task.json`)).status, 200);
  const token = tokenOf(f.read);
  const forged = f.read.replace(token, `${token.split(".")[0]}.${"A".repeat(43)}`);
  const malformed = f.read.replace(token, "not-a-token");
  assert.deepEqual(
    [(await call(`${forged}task.json`)).status, (await call(`${malformed}task.json`)).status],
    [401, 401],
  );
  f.clock.nowMs = 10_000; // the claims' expiresMs
  const expired = await call(`${f.read}task.json`);
  assert.equal(expired.status, 401);
  assert.deepEqual(JSON.parse(expired.body), { error: "The job token has expired" });
  assert.equal((await call(`${f.write}out/x`, { method: "PUT", body: "x" })).status, 401);
});

Deno.test("startJobFilesServer() puts the token in no response and no log record", async () => {
  await using f = await fixture();
  const read = tokenOf(f.read);
  const write = tokenOf(f.write);
  const seen: string[] = [];
  const record = async (url: string, init?: RequestInit) => {
    const r = await call(url, init);
    seen.push(`${r.status} ${[...r.headers].join(" ")} ${r.body}`);
  };
  await record(`${f.read}task.json`);
  await record(`${f.read}dataset/secret.txt`);
  await record(`${f.read}dataset/..%2Fx`);
  await record(`${f.read}nowhere`);
  await record(`${f.read}v1/${read}/task.json`); // a client that joined the base URL twice
  await record(`${f.read}out/x`, { method: "PUT", body: "x" });
  await record(`${f.write}out/${write}%2F..%2Fx`, { method: "PUT", body: "x" });
  await record(`${f.write}out/big`, { method: "PUT", body: new Uint8Array(MAX_BYTES + 1) });
  await record(`${f.write}out/ok.bin`, { method: "PUT", body: "ok" });
  await record(`${f.server.url}/v2/${read}/task.json`);
  f.clock.nowMs = 20_000;
  await record(`${f.read}task.json`);
  const forged = `${read.split(".")[0]}.${"A".repeat(43)}`;
  await record(`${f.read.replace(read, forged)}task.json`);
  const logged = f.records.map((r) => JSON.stringify([r.rawMessage, r.message, r.properties]));
  assert.ok(logged.some((l) => l.includes("/v1/<redacted>/task.json")), logged.join("\n"));
  assert.ok(f.records.length >= 12, `one line per request, got ${f.records.length}`);
  for (const text of [...seen, ...logged]) {
    for (const secret of [read, write, forged, read.split(".")[1], write.split(".")[1]]) {
      assert.ok(!text.includes(secret), `token in: ${text}`);
    }
  }
});

async function names(dir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}
