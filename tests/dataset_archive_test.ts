import assert from "node:assert/strict";
import { DatasetError, DEFAULT_LIMITS, type UnpackLimits } from "../actors/task_center/dataset/limits.ts";
import { verifyDatasetHashes } from "../core/manifest.ts";
import { loadManifest } from "../core/manifest.ts";
import { datasetDir } from "../core/paths.ts";
import { prepareDatasetDir } from "../actors/task_center/dataset/prepare.ts";
import { gzip, tar, zip } from "./dataset_archives.ts";
import { DATASET_HOST, datasetFetch, JSONL, rejection, urlTask } from "./task_center_fixtures.ts";

// DATASET_HOST is served by the fake fetch and resolves nowhere: allowed by name, never looked up.
const FAKE_HOST_ALLOWED = { allow_hosts: [new URL(DATASET_HOST).hostname] };

async function prepare(
  name: string,
  bytes: Uint8Array,
  limits: Partial<UnpackLimits> = {},
  maxBytes?: number,
) {
  const dataDir = await Deno.makeTempDir({ prefix: "dataset_test_" });
  const task = urlTask("t-1", name, bytes, 1_000, maxBytes);
  const deps = {
    dataDir,
    hubUrl: "http://hub.invalid",
    fetch: datasetFetch(new Map([[name, bytes]])),
    dataset: FAKE_HOST_ALLOWED,
    limits: { ...DEFAULT_LIMITS, ...limits },
  };
  return { dataDir, run: () => prepareDatasetDir("t-1", task.request.dataset, deps) };
}

async function refused(name: string, bytes: Uint8Array, pattern: RegExp, limits: Partial<UnpackLimits> = {}) {
  const { dataDir, run } = await prepare(name, bytes, limits);
  const err = await rejection(run, DatasetError);
  assert.match(err.message, pattern);
  // Nothing half-unpacked is left where the trainer looks, and nothing escaped the staging area.
  assert.deepEqual(await exists(datasetDir(dataDir, "t-1")), false);
  assert.deepEqual(await exists(`${dataDir}/evil.txt`), false);
  return err;
}

const exists = (p: string) => Deno.lstat(p).then(() => true, () => false);

Deno.test("prepareDatasetDir() unpacks a tar.gz, hoists its top folder and describes it", async () => {
  const archive = await gzip(tar([{ name: "ds/", type: "5" }, { name: "ds/train.jsonl", data: JSONL }]));
  const { dataDir, run } = await prepare("data.tar.gz", archive);
  const m = await run();
  assert.deepEqual(m.packing, "tar.gz");
  assert.deepEqual(m.format, "jsonl");
  assert.deepEqual(m.sample_count, 3);
  assert.deepEqual(m.files.map((f) => f.path), ["train.jsonl"]);
  assert.deepEqual(m.preview[0], { text: "hello world" });
  assert.deepEqual(await Deno.readTextFile(`${datasetDir(dataDir, "t-1")}/train.jsonl`), JSONL);
  assert.deepEqual(await loadManifest(dataDir, "t-1"), m);
  assert.deepEqual(await verifyDatasetHashes(datasetDir(dataDir, "t-1"), m), { ok: true });
});

Deno.test("prepareDatasetDir() unpacks a zip with a CSV and counts quoted multi-line records once", async () => {
  const csv = 'prompt,response\n"a\nb",x\nc,"y,z"\n';
  const { run } = await prepare(
    "data.zip",
    await zip([{ name: "train.csv", data: csv }, { name: "__MACOSX/x" }]),
  );
  const m = await run();
  assert.deepEqual([m.packing, m.format, m.sample_count], ["zip", "csv", 2]);
  assert.deepEqual(m.preview[1], { prompt: "c", response: "y,z" });
  assert.deepEqual(m.files.length, 1);
});

Deno.test("prepareDatasetDir() keeps a plain file download under its URL name", async () => {
  const { run } = await prepare("train.jsonl", new TextEncoder().encode(JSONL));
  const m = await run();
  assert.deepEqual([m.packing, m.files[0].path, m.sample_count], ["plain", "train.jsonl", 3]);
});

Deno.test("verifyDatasetHashes() names a file changed, added or linked after validation", async () => {
  const { dataDir, run } = await prepare("train.jsonl", new TextEncoder().encode(JSONL));
  const m = await run();
  const dir = datasetDir(dataDir, "t-1");
  await Deno.writeTextFile(`${dir}/train.jsonl`, JSONL + '{"text": "injected"}\n');
  const changed = await verifyDatasetHashes(dir, m);
  assert.ok(!changed.ok && changed.message.includes('"train.jsonl" changed'));
  await Deno.writeTextFile(`${dir}/train.jsonl`, JSONL);
  await Deno.writeTextFile(`${dir}/extra.jsonl`, "{}\n");
  const added = await verifyDatasetHashes(dir, m);
  assert.ok(!added.ok && added.message.includes('"extra.jsonl" is not in the validated manifest'));
  await Deno.remove(`${dir}/extra.jsonl`);
  await Deno.symlink("/etc/passwd", `${dir}/link`);
  const linked = await verifyDatasetHashes(dir, m);
  assert.ok(!linked.ok && linked.message.includes('"link" is a link'));
});

Deno.test("prepareDatasetDir() refuses a tar entry with path traversal, naming it", async () => {
  const err = await refused(
    "a.tar",
    tar([{ name: "../evil.txt", data: "x" }]),
    /entry "\.\.\/evil\.txt".*traversal/,
  );
  assert.deepEqual(err.entry, "../evil.txt");
});

Deno.test("prepareDatasetDir() refuses a nested traversal and an absolute path", async () => {
  await refused(
    "a.tar",
    tar([{ name: "ok/../../evil.txt", data: "x" }]),
    /"ok\/\.\.\/\.\.\/evil\.txt".*traversal/,
  );
  await refused(
    "a.tar.gz",
    await gzip(tar([{ name: "/tmp/evil.txt", data: "x" }])),
    /"\/tmp\/evil\.txt".*absolute/,
  );
  await refused("a.zip", await zip([{ name: "C:/evil.txt", data: "x" }]), /"C:\/evil\.txt".*absolute/);
  await refused("a.zip", await zip([{ name: "..\\evil.txt", data: "x" }]), /backslash/);
});

Deno.test("prepareDatasetDir() refuses symlinks and hard links in tar and zip", async () => {
  await refused(
    "a.tar",
    tar([{ name: "link", type: "2", linkname: "/etc/passwd" }, { name: "link/x", data: "x" }]),
    /entry "link": symbolic link to "\/etc\/passwd"/,
  );
  await refused(
    "a.tar",
    tar([{ name: "hard", type: "1", linkname: "../../etc/passwd" }]),
    /entry "hard": hard link/,
  );
  await refused("a.tar", tar([{ name: "dev", type: "3" }]), /entry "dev": unsupported tar entry type '3'/);
  await refused(
    "a.zip",
    await zip([{ name: "link", data: "/etc/passwd", mode: 0o120777 }]),
    /"link": symbolic link/,
  );
});

Deno.test("prepareDatasetDir() refuses a zip whose directory declares a bomb ratio", async () => {
  const big = new Uint8Array(2 * 1024 * 1024); // 2 MiB of zeros deflates to ~2 KiB
  await refused("bomb.zip", await zip([{ name: "zeros.bin", data: big }]), /decompression bomb/, {
    maxRatio: 50,
    ratioFloorBytes: 1024,
  });
});

Deno.test("prepareDatasetDir() stops a gzip bomb on the bytes actually inflated", async () => {
  const bomb = await gzip(tar([{ name: "zeros.bin", data: new Uint8Array(4 * 1024 * 1024) }]));
  await refused("bomb.tar.gz", bomb, /entry "zeros\.bin".*decompression bomb/, {
    maxRatio: 50,
    ratioFloorBytes: 1024,
  });
});

Deno.test("prepareDatasetDir() refuses a zip entry that inflates past its declared size", async () => {
  const lying = await zip([{ name: "small.txt", data: "x".repeat(10_000), declaredSize: 10 }]);
  await refused("lie.zip", lying, /entry "small\.txt": inflates past its declared 10 bytes/);
});

Deno.test("prepareDatasetDir() refuses archives over the size or file-count limits", async () => {
  const files = Array.from({ length: 5 }, (_, i) => ({ name: `f${i}.jsonl`, data: "{}\n" }));
  await refused("many.tar", tar(files), /entry "f3\.jsonl": archive has more than 3 files/, { maxFiles: 3 });
  await refused(
    "big.tar",
    tar([{ name: "a.jsonl", data: "x".repeat(5000) }]),
    /entry "a\.jsonl".*limit of 1000/,
    {
      maxTotalBytes: 1000,
    },
  );
  await refused(
    "dup.tar",
    tar([{ name: "a.jsonl", data: "1" }, { name: "./a.jsonl", data: "2" }]),
    /appears twice/,
  );
});

Deno.test("prepareDatasetDir() refuses a download with the wrong sha256 or over max_bytes", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "dataset_test_" });
  const real = new TextEncoder().encode(JSONL);
  const task = urlTask("t-1", "train.jsonl", new TextEncoder().encode("other bytes"));
  const deps = {
    dataDir,
    hubUrl: "",
    fetch: datasetFetch(new Map([["train.jsonl", real]])),
    dataset: FAKE_HOST_ALLOWED,
    limits: DEFAULT_LIMITS,
  };
  const err = await rejection(() => prepareDatasetDir("t-1", task.request.dataset, deps), DatasetError);
  assert.match(err.message, /sha256 is [0-9a-f]{64}, the task expects/);
  const small = urlTask("t-2", "train.jsonl", real, 1_000, 10);
  const over = await rejection(() => prepareDatasetDir("t-2", small.request.dataset, deps), DatasetError);
  assert.match(over.message, /past its limit of 10|more than its limit of 10/);
});

Deno.test("prepareDatasetDir() refuses bzip2 and other unsupported formats by their magic bytes", async () => {
  await refused("x.tar.bz2", new TextEncoder().encode("BZh91AY&SY..."), /bzip2 archives are not supported/);
});
