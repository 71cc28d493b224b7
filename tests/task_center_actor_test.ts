import assert from "node:assert/strict";
import type { TaskReport } from "../actors/protocol.ts";
import { startTaskCenterActor } from "../actors/task_center/task_center_actor.ts";
import { deliverResult, prepareDataset } from "../actors/protocol.ts";
import { Store } from "../core/store.ts";
import { transition } from "../core/task.ts";
import { type FakeClock, fakeClock, waitFor } from "./helpers.ts";
import { TaskCenterServer } from "../local/task_center_server.ts";
import {
  DATASET_HOST,
  datasetFetch,
  JSONL,
  RESULT,
  testSigner,
  uploadingTask,
  urlTask,
} from "./task_center_fixtures.ts";
import { tar } from "./dataset_archives.ts";

const enc = new TextEncoder();
const CONFIG = { request_timeout_s: 5, poll_interval_s: 1, validation_timeout_s: 60, retry_max_delay_s: 8 };

async function setup(files = new Map<string, Uint8Array>([["train.jsonl", enc.encode(JSONL)]])) {
  const fc = fakeClock(Date.now());
  const signer = await testSigner();
  const server = await TaskCenterServer.start({
    knownHotkeys: [signer.hotkey.ss58],
    now: () => fc.clock.now(),
  });
  const store = await Store.open();
  const dataDir = await Deno.makeTempDir({ prefix: "task_center_test_" });
  const reports: TaskReport[] = [];
  const start = () =>
    startTaskCenterActor({
      store,
      signer,
      taskCenter: { url: server.url, ...CONFIG },
      dataDir,
      hubUrl: "http://hub.invalid",
      fetch: datasetFetch(files),
      dataset: { allow_hosts: [new URL(DATASET_HOST).hostname] }, // a fake host: never resolved
      clock: fc.clock,
      random: () => 0.5,
      report: (r) => reports.push(r),
    });
  const actor = start();
  return {
    fc,
    signer,
    server,
    store,
    dataDir,
    reports,
    actor,
    start,
    async [Symbol.asyncDispose]() {
      await actor.stop();
      await server.down();
      store.close();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

/** Advances the fake clock in steps until `pred` holds; real I/O runs between steps. */
function until(fc: FakeClock, pred: () => boolean | Promise<boolean>, what: string, stepMs = 500) {
  return waitFor(async () => (await pred()) || (await fc.tick(stepMs), false), { timeoutMs: 10_000, what });
}

const stateOf = async (store: Store, id: string) => (await store.getTask(id))?.state;

async function outboxSize(store: Store) {
  return (await Array.fromAsync(store.outbox())).length;
}

Deno.test("prepareDataset() fetches, submits the manifest and moves the task to dataset_validated", async () => {
  await using t = await setup();
  await t.store.createTask(urlTask("t-1", "train.jsonl", enc.encode(JSONL), t.fc.clock.now()));
  t.server.scripts.set("t-1", { status: "validated", afterPolls: 2 });
  // The actor may already have picked the task up in its start-up recovery: either way it runs once.
  assert.equal((await prepareDataset(t.actor, "t-1")).ok, true);
  assert.deepEqual(await prepareDataset(t.actor, "t-1"), { ok: true, started: false });
  await until(t.fc, async () => (await stateOf(t.store, "t-1")) === "dataset_validated", "validation");
  const task = (await t.store.getTask("t-1"))!;
  assert.deepEqual(task.history.map((h) => h.state), ["received", "dataset_submitted", "dataset_validated"]);
  assert.equal(t.server.tasks.get("t-1")?.manifest?.sample_count, 3);
  assert.equal(t.server.requestsTo("/validation"), 3);
  assert.deepEqual(t.reports.map((r) => r.kind), ["datasetValidated"]);
  assert.equal(await Deno.readTextFile(`${t.dataDir}/datasets/t-1/train.jsonl`), JSONL);
});

Deno.test("prepareDataset() fails the task with the validator's reason when the dataset is rejected", async () => {
  await using t = await setup();
  await t.store.createTask(urlTask("t-1", "train.jsonl", enc.encode(JSONL), t.fc.clock.now()));
  t.server.scripts.set("t-1", { status: "rejected", reason: "dataset contains personal data" });
  await prepareDataset(t.actor, "t-1");
  await until(t.fc, async () => (await stateOf(t.store, "t-1")) === "failed", "rejection");
  const task = (await t.store.getTask("t-1"))!;
  assert.equal(task.reason, "dataset contains personal data");
  assert.ok(
    !task.history.some((h) => h.state === "dataset_validated" || h.state === "queued"),
    "nothing trained",
  );
  assert.deepEqual(t.reports.map((r) => r.kind), ["datasetFailed"]);
});

Deno.test("prepareDataset() fails the task with validation_timeout when validation stays pending", async () => {
  await using t = await setup();
  const t0 = t.fc.clock.now();
  await t.store.createTask(urlTask("t-1", "train.jsonl", enc.encode(JSONL), t0));
  t.server.scripts.set("t-1", { status: "pending" });
  await prepareDataset(t.actor, "t-1");
  await until(t.fc, async () => (await stateOf(t.store, "t-1")) === "failed", "timeout", 250);
  assert.equal((await t.store.getTask("t-1"))!.reason, "validation_timeout");
  assert.ok(t.fc.clock.now() - t0 >= CONFIG.validation_timeout_s * 1000);
  // Pending is no error: one poll per poll_interval_s (1 s here) until the deadline, no backoff.
  const polls = t.server.requestsTo("/validation");
  assert.ok(polls >= 50 && polls <= 61, `polled ${polls} times in 60 s`);
});

Deno.test("prepareDataset() fails the task when the task center refuses the manifest with a 4xx", async () => {
  await using t = await setup(new Map([["notes.txt", enc.encode("not a dataset")]]));
  await t.store.createTask(urlTask("t-1", "notes.txt", enc.encode("not a dataset"), t.fc.clock.now()));
  await prepareDataset(t.actor, "t-1");
  await until(t.fc, async () => (await stateOf(t.store, "t-1")) === "failed", "refusal");
  assert.equal((await t.store.getTask("t-1"))!.reason, "manifest_invalid: no file the trainer can read");
});

Deno.test("prepareDataset() fails the task naming the entry when the archive is malicious", async () => {
  const evil = tar([{ name: "../evil.jsonl", data: JSONL }]);
  await using t = await setup(new Map([["d.tar", evil]]));
  await t.store.createTask(urlTask("t-1", "d.tar", evil, t.fc.clock.now()));
  await prepareDataset(t.actor, "t-1");
  await until(t.fc, async () => (await stateOf(t.store, "t-1")) === "failed", "refusal");
  assert.match(
    (await t.store.getTask("t-1"))!.reason!,
    /Cannot unpack entry "\.\.\/evil\.jsonl": path traversal/,
  );
  assert.equal(t.server.log.length, 0, "nothing reached the task center");
});

Deno.test("deliverResult() retries through 500 and 429 and the result is recorded exactly once", async () => {
  await using t = await setup();
  await t.store.createTask(uploadingTask("t-1", t.fc.clock.now()));
  t.server.preValidate("t-1", t.signer.hotkey.ss58);
  t.server.faults.push({ route: "result", status: 500, times: 2 }, {
    route: "result",
    status: 429,
    times: 1,
    retryAfterS: 5,
  });
  const reply = await deliverResult(t.actor, "t-1", RESULT);
  assert.ok(reply.ok && reply.task.state === "submitting");
  await until(t.fc, async () => (await stateOf(t.store, "t-1")) === "done", "delivery");
  assert.equal(t.server.requestsTo("/result"), 4);
  assert.equal(t.server.recordedFor("t-1"), 1);
  const sent = t.server.recorded[0];
  assert.deepEqual([sent.repo_id, sent.commit_sha, sent.quality.passed], ["miner/t-lora", "c0ffee", true]);
  assert.equal(sent.timings.training_s, 0);
  assert.equal(await outboxSize(t.store), 0);
  assert.deepEqual(t.reports.map((r) => r.kind), ["resultDelivered"]);
});

Deno.test("deliverResult() resends after a lost acknowledgement and the dedupe key keeps it to one record", async () => {
  await using t = await setup();
  await t.store.createTask(uploadingTask("t-1", t.fc.clock.now()));
  t.server.preValidate("t-1", t.signer.hotkey.ss58);
  t.server.faults.push({ route: "result", status: 502, times: 1, afterHandling: true });
  await deliverResult(t.actor, "t-1", RESULT);
  await until(t.fc, async () => (await stateOf(t.store, "t-1")) === "done", "delivery");
  assert.deepEqual([t.server.requestsTo("/result"), t.server.recordedFor("t-1")], [2, 1]);
});

Deno.test("deliverResult() fails the task with the task center's reason on a 4xx", async () => {
  await using t = await setup();
  await t.store.createTask(uploadingTask("t-1", t.fc.clock.now())); // no validated dataset on the server
  await deliverResult(t.actor, "t-1", RESULT);
  await until(t.fc, async () => (await stateOf(t.store, "t-1")) === "failed", "refusal");
  assert.match((await t.store.getTask("t-1"))!.reason!, /^dataset_not_validated: /);
  assert.equal(await outboxSize(t.store), 0);
});

Deno.test("deliverResult() submits nothing for a task whose quality check failed", async () => {
  await using t = await setup();
  const now = t.fc.clock.now();
  const flagged = { ...RESULT, metrics: { quality: { passed: false } } };
  await t.store.createTask(uploadingTask("t-1", now));
  const refused = await deliverResult(t.actor, "t-1", flagged);
  assert.ok(!refused.ok && refused.reason === "quality_failed");
  let testing = urlTask("t-2", "train.jsonl", enc.encode(JSONL), now);
  for (const type of ["submitDataset", "datasetValidated", "enqueue", "startTraining"] as const) {
    testing = transition(testing, { type }, now);
  }
  await t.store.createTask(transition(testing, { type: "fail", reason: "quality_failed" }, now));
  const failed = await deliverResult(t.actor, "t-2", RESULT);
  assert.ok(!failed.ok && failed.reason === "invalid_state");
  assert.deepEqual([t.server.log.length, await outboxSize(t.store)], [0, 0]);
  assert.equal((await t.store.getTask("t-1"))!.state, "uploading");
});

Deno.test("startTaskCenterActor() drains the outbox left by a stopped actor once the task center is back", async () => {
  await using t = await setup();
  await t.store.createTask(uploadingTask("t-1", t.fc.clock.now()));
  t.server.preValidate("t-1", t.signer.hotkey.ss58);
  await t.server.down();
  await deliverResult(t.actor, "t-1", RESULT);
  await t.actor.stop();
  assert.equal(await outboxSize(t.store), 1);
  await t.server.up();
  await using second = t.start();
  await until(t.fc, async () => (await stateOf(t.store, "t-1")) === "done", "drain");
  assert.equal(second.status, "running");
  assert.deepEqual([t.server.recordedFor("t-1"), await outboxSize(t.store)], [1, 0]);
});
