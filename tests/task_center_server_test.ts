import assert from "node:assert/strict";
import { HEADER_BODY_SHA256, HEADER_HOTKEY, signRequest } from "../actors/task_center/signing.ts";
import {
  getTaskStatus,
  getValidation,
  postResult,
  submitDataset,
  taskCenter,
} from "../actors/task_center/task_center_client.ts";
import { TaskCenterServer } from "../local/task_center_server.ts";
import { RESULT, testSigner } from "./task_center_fixtures.ts";
import { buildSubmission } from "../actors/task_center/result_submission.ts";
import { uploadingTask } from "./task_center_fixtures.ts";
import type { DatasetManifest } from "../actors/task_center/task_center_api.ts";

const BASE = "http://task-center.test";

async function signed(
  path: string,
  body: string,
  opts: { uri?: string; nonce?: string; method?: string } = {},
) {
  const signer = await testSigner(opts.uri ?? "//Alice");
  const method = opts.method ?? "GET";
  const headers = signRequest(signer, opts.nonce ?? `${BigInt(Date.now()) * 1_000_000n}`, method, path, body);
  return { headers, init: { method, headers, body: method === "GET" ? undefined : body } };
}

async function server() {
  const alice = await testSigner("//Alice");
  return await TaskCenterServer.start({ knownHotkeys: [alice.hotkey.ss58] });
}

const reasonOf = async (res: Response) => (await res.json()).reason;

Deno.test("TaskCenterServer accepts a request signed by a known hotkey", async () => {
  await using s = await server();
  const { init } = await signed("/v1/tasks/t-1", "");
  const res = await s.handle(new Request(`${BASE}/v1/tasks/t-1`, init));
  assert.deepEqual([res.status, await reasonOf(res)], [404, "task_not_found"]);
});

Deno.test("TaskCenterServer refuses a tampered body with 401 body_hash_mismatch", async () => {
  await using s = await server();
  const { init } = await signed("/v1/tasks/t-1/result", '{"a":1}', { method: "POST" });
  const res = await s.handle(new Request(`${BASE}/v1/tasks/t-1/result`, { ...init, body: '{"a":2}' }));
  assert.deepEqual([res.status, await reasonOf(res)], [401, "body_hash_mismatch"]);
  // Rewriting the hash header too breaks the signature instead.
  const forged = { ...init.headers, [HEADER_BODY_SHA256]: "0".repeat(64) };
  const res2 = await s.handle(
    new Request(`${BASE}/v1/tasks/t-1/result`, { ...init, headers: forged, body: "" }),
  );
  assert.equal(res2.status, 401);
});

Deno.test("TaskCenterServer refuses a wrong key: unknown hotkey 403, borrowed hotkey 401", async () => {
  await using s = await server();
  const bob = await signed("/v1/tasks/t-1", "", { uri: "//Bob" });
  const res = await s.handle(new Request(`${BASE}/v1/tasks/t-1`, bob.init));
  assert.deepEqual([res.status, await reasonOf(res)], [403, "unknown_hotkey"]);
  const alice = await testSigner("//Alice");
  const claimed = { ...bob.headers, [HEADER_HOTKEY]: alice.hotkey.ss58 }; // Bob's signature, Alice's name
  const res2 = await s.handle(new Request(`${BASE}/v1/tasks/t-1`, { headers: claimed }));
  assert.deepEqual([res2.status, await reasonOf(res2)], [401, "bad_signature"]);
});

Deno.test("TaskCenterServer refuses a replayed nonce and one outside the window", async () => {
  await using s = await server();
  const { init } = await signed("/v1/tasks/t-1", "");
  assert.equal((await s.handle(new Request(`${BASE}/v1/tasks/t-1`, init))).status, 404);
  const again = await s.handle(new Request(`${BASE}/v1/tasks/t-1`, init));
  assert.deepEqual([again.status, await reasonOf(again)], [401, "nonce_replayed"]);
  const old = await signed("/v1/tasks/t-1", "", { nonce: `${BigInt(Date.now() - 600_000) * 1_000_000n}` });
  const stale = await s.handle(new Request(`${BASE}/v1/tasks/t-1`, old.init));
  assert.deepEqual([stale.status, await reasonOf(stale)], [401, "nonce_out_of_window"]);
  // The same signature aimed at another path does not verify.
  const moved = await s.handle(new Request(`${BASE}/v1/tasks/t-2`, (await signed("/v1/tasks/t-1", "")).init));
  assert.deepEqual([moved.status, await reasonOf(moved)], [401, "bad_signature"]);
});

Deno.test("task_center_client round trip over a socket: dataset, validation, result, status, 429", async () => {
  await using s = await server();
  const tc = taskCenter({ baseUrl: s.url, signer: await testSigner("//Alice") });
  const manifest: DatasetManifest = {
    schema_version: 1,
    task_id: "t-1",
    source: { kind: "hf", repo: "org/ds", revision: "abc", path: null },
    packing: "hf",
    format: "jsonl",
    files: [{ path: "train.jsonl", sha256: "a".repeat(64), bytes: 3 }],
    total_bytes: 3,
    sample_count: 1,
    preview: [],
  };
  const put = await submitDataset(tc, "t-1", manifest);
  assert.ok(put.ok && put.value.status === "pending");
  const polled = await getValidation(tc, "t-1");
  assert.ok(polled.ok && polled.value.status === "validated");
  s.faults.push({ route: "result", status: 429, times: 1, retryAfterS: 7 });
  const built = buildSubmission(uploadingTask("t-1", 1_000), RESULT, put.value.manifest_sha256);
  assert.ok(built.ok);
  const limited = await postResult(tc, built.submission);
  assert.ok(
    !limited.ok && limited.kind === "http" && limited.retryAfterMs === 7000 &&
      limited.reason === "rate_limited",
  );
  const ack = await postResult(tc, built.submission);
  assert.ok(ack.ok && !ack.value.duplicate);
  const dup = await postResult(tc, built.submission);
  assert.ok(dup.ok && dup.value.duplicate);
  const status = await getTaskStatus(tc, "t-1");
  assert.ok(status.ok && status.value.result?.dedupe_key === built.submission.dedupe_key);
  await s.down();
  const down = await getTaskStatus(tc, "t-1");
  assert.ok(!down.ok && down.kind === "network");
});
