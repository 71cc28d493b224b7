/**
 * How often the TaskCenterActor asks whether a dataset is validated: every `poll_interval_s` (±10 %)
 * while the answer is "pending", backing off only when the task center fails to answer, and never
 * sooner than its Retry-After. A scripted task center behind an injected fetch, timed by a fake clock.
 */
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { startTaskCenterActor } from "../actors/task_center/task_center_actor.ts";
import { paths, type ValidationStatus } from "../actors/task_center/task_center_api.ts";
import { Store } from "../core/store.ts";
import { transition } from "../core/task.ts";
import { manifestPath } from "../core/paths.ts";
import type { DatasetManifest } from "../core/manifest.ts";
import { type FakeClock, fakeClock, waitFor } from "./helpers.ts";
import { JSONL, sha256, testSigner, urlTask } from "./task_center_fixtures.ts";

const TC = "http://task-center.test";
const enc = new TextEncoder();

/** A validation status, "pending" with the task center's hint for the next poll, or an error status. */
type Answer = "pending" | "validated" | { pendingFor: number } | { status: number; retryAfterS?: number };

/** A task center that answers each validation poll from `script` (then "validated"); logs when. */
function scriptedTaskCenter(fc: FakeClock, script: Answer[]) {
  const polls: number[] = [];
  const status = (s: "pending" | "validated", retryAfterS: number | null = null): ValidationStatus => ({
    task_id: "t-1",
    status: s,
    reason: null,
    manifest_sha256: "0".repeat(64),
    retry_after_s: retryAfterS,
  });
  const fetch: typeof globalThis.fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.origin !== TC || url.pathname !== paths.validation("t-1") || init?.method !== "GET") {
      return Promise.resolve(Response.json({ reason: "not_found", message: "no" }, { status: 404 }));
    }
    polls.push(fc.clock.now());
    const answer = script[polls.length - 1] ?? "validated";
    if (typeof answer === "string") return Promise.resolve(Response.json(status(answer)));
    if ("pendingFor" in answer) return Promise.resolve(Response.json(status("pending", answer.pendingFor)));
    const headers: Record<string, string> = answer.retryAfterS === undefined
      ? {}
      : { "retry-after": String(answer.retryAfterS) };
    return Promise.resolve(
      Response.json({ reason: "busy", message: "try later" }, { status: answer.status, headers }),
    );
  };
  return { polls, fetch };
}

/** A task whose manifest the task center has (`dataset_submitted`): the actor resumes polling on start. */
async function submitted(store: Store, dataDir: string, now: number): Promise<void> {
  const task = transition(
    urlTask("t-1", "train.jsonl", enc.encode(JSONL), now),
    { type: "submitDataset" },
    now,
  );
  const manifest: DatasetManifest = {
    schema_version: 1,
    task_id: "t-1",
    source: task.request.dataset,
    packing: "plain",
    format: "jsonl",
    files: [{ path: "train.jsonl", sha256: sha256(JSONL), bytes: enc.encode(JSONL).length }],
    total_bytes: enc.encode(JSONL).length,
    sample_count: 3,
    preview: [],
  };
  const file = manifestPath(dataDir, "t-1");
  await Deno.mkdir(dirname(file), { recursive: true });
  await Deno.writeTextFile(file, JSON.stringify(manifest));
  await store.createTask(task);
}

async function validate(script: Answer[], random: () => number) {
  const fc = fakeClock(1_700_000_000_000);
  const tc = scriptedTaskCenter(fc, script);
  const store = await Store.open();
  const dataDir = await Deno.makeTempDir({ prefix: "validation_poll_test_" });
  await submitted(store, dataDir, fc.clock.now());
  const actor = startTaskCenterActor({
    store,
    signer: await testSigner(),
    taskCenter: {
      url: TC,
      request_timeout_s: 5,
      poll_interval_s: 2,
      validation_timeout_s: 3600,
      retry_max_delay_s: 300,
    },
    dataDir,
    hubUrl: "http://hub.invalid",
    fetch: tc.fetch,
    clock: fc.clock,
    random,
  });
  try {
    const validated = async () => (await store.getTask("t-1"))?.state === "dataset_validated";
    // Steps of fake time (100 ms), real I/O between them, until validated or a fake minute passed
    // (every script here is done in well under one; the polls so far tell a slower miner's story).
    const end = fc.clock.now() + 60_000;
    const over = async () => (await validated()) || fc.clock.now() >= end;
    await waitFor(async () => (await over()) || (await fc.tick(100), false), {
      timeoutMs: 30_000,
      what: "validation or a fake minute",
    });
    return tc.polls;
  } finally {
    await actor.stop();
    store.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]);

Deno.test("TaskCenterActor polls a pending validation every poll_interval_s, the 9th poll at 8 intervals", async () => {
  const pending = Array<Answer>(8).fill("pending");
  const polls = await validate(pending, () => 0.5); // 0.5: no jitter
  assert.equal(polls.length, 9, `validated on the 9th poll, not ${polls.length} polls in a minute`);
  const span = polls[8] - polls[0];
  assert.ok(span >= 16_000 && span <= 16_500, `9th poll ${span} ms after the first, not ~8 × 2 s`);
});

Deno.test("TaskCenterActor spreads its polls by at most ±10 % of poll_interval_s", async () => {
  const draws = [0, 0.999, 0.25, 0.75];
  let n = 0;
  const polls = await validate(Array<Answer>(8).fill("pending"), () => draws[n++ % draws.length]);
  for (const gap of gaps(polls)) assert.ok(gap >= 1_800 && gap <= 2_250, `a gap of ${gap} ms`);
  assert.ok(new Set(gaps(polls).map((g) => Math.round(g / 100))).size > 1, "the gaps are jittered");
});

Deno.test("TaskCenterActor backs off only while the task center errs, honours Retry-After and retry_after_s, then polls at the interval again", async () => {
  const script: Answer[] = [
    "pending",
    { status: 503 },
    { status: 503 },
    { status: 429, retryAfterS: 30 },
    "pending",
    { pendingFor: 10 },
    "pending",
  ];
  const polls = await validate(script, () => 0.5);
  assert.equal(polls.length, 8, `${polls.length} polls in a minute`);
  const [afterPending, after503, after2nd503, after429, afterRecovery, hinted, again] = gaps(polls);
  const near = (ms: number, want: number) => ms >= want && ms <= want + 250;
  assert.ok(near(afterPending, 2_000), `pending → next poll after ${afterPending} ms`);
  assert.ok(near(after503, 2_000), `first error → ${after503} ms (backoff starts at the interval)`);
  assert.ok(near(after2nd503, 4_000), `second error → ${after2nd503} ms (doubled)`);
  assert.ok(near(after429, 30_000), `Retry-After: 30 → ${after429} ms`);
  assert.ok(near(afterRecovery, 2_000), `an answer resets the backoff: ${afterRecovery} ms`);
  assert.ok(near(hinted, 10_000), `pending with retry_after_s 10 → ${hinted} ms`);
  assert.ok(near(again, 2_000), `${again} ms`);
});
