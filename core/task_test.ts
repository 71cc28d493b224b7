import assert from "node:assert/strict";
import {
  nextState,
  type Task,
  type TaskEvent,
  TaskRequest,
  TaskState,
  trainingSpecOf,
  transition,
} from "./task.ts";
import { TransitionError } from "./errors.ts";
import { doneEvent, textTask } from "../tests/fixtures.ts";

const HAPPY: TaskEvent[] = [
  { type: "submitDataset" },
  { type: "datasetValidated" },
  { type: "enqueue" },
  { type: "startTraining" },
  { type: "trained", done: doneEvent(), outDir: "/data/work/t1/out" },
  { type: "uploaded", result: { repo_id: "me/t1", commit_sha: "abc", artifacts: [], metrics: {} } },
  { type: "submitted" },
];

Deno.test("transition() walks the happy path from received to done", () => {
  let task: Task = textTask("t1");
  HAPPY.forEach((e, i) => (task = transition(task, e, 2_000 + i)));
  assert.equal(task.state, "done");
  assert.deepEqual(task.history.map((h) => h.state), [
    "received",
    "dataset_submitted",
    "dataset_validated",
    "queued",
    "training",
    "uploading",
    "submitting",
    "done",
  ]);
  assert.equal(task.attempts, 1);
  assert.equal(task.result?.repo_id, "me/t1");
});

Deno.test("transition() records the quality verdict with the move to uploading and refuses a failed one", () => {
  let task = textTask("t1");
  for (const e of HAPPY.slice(0, 4)) task = transition(task, e, 1);
  assert.throws(
    () => transition(task, { type: "trained", done: doneEvent(false), outDir: "/o" }, 2),
    (e: unknown) => e instanceof TransitionError && /quality check failed/.test(e.message),
  );
  const trained = transition(task, { type: "trained", done: doneEvent(), outDir: "/o" }, 2);
  assert.equal(trained.state, "uploading");
  assert.deepEqual(trained.trained, { done: doneEvent(), out_dir: "/o" });
});

Deno.test("transition() allows requeue of an interrupted training and counts attempts", () => {
  let task = textTask("t1");
  for (const e of HAPPY.slice(0, 4)) task = transition(task, e, 1);
  task = transition(task, { type: "requeue" }, 2);
  task = transition(task, { type: "startTraining" }, 3);
  assert.equal(task.state, "training");
  assert.equal(task.attempts, 2);
});

Deno.test("nextState() matches the documented table for every state and event", () => {
  const events: TaskEvent["type"][] = [
    "submitDataset",
    "datasetValidated",
    "enqueue",
    "startTraining",
    "requeue",
    "trained",
    "uploaded",
    "submitted",
    "fail",
    "reject",
  ];
  const legal = new Map<string, TaskState>([
    ["received/submitDataset", "dataset_submitted"],
    ["dataset_submitted/datasetValidated", "dataset_validated"],
    ["dataset_validated/enqueue", "queued"],
    ["queued/startTraining", "training"],
    ["training/requeue", "queued"],
    ["training/trained", "uploading"],
    ["uploading/uploaded", "submitting"],
    ["submitting/submitted", "done"],
    ["received/reject", "rejected"],
    ["dataset_submitted/reject", "rejected"],
  ]);
  for (const s of TaskState.options) {
    if (!["done", "failed", "rejected"].includes(s)) legal.set(`${s}/fail`, "failed");
  }
  let checked = 0;
  for (const from of TaskState.options) {
    for (const ev of events) {
      assert.equal(nextState(from, ev), legal.get(`${from}/${ev}`) ?? null, `${from} --${ev}->`);
      checked++;
    }
  }
  assert.equal(checked, TaskState.options.length * events.length);
});

Deno.test("transition() refuses an illegal step with a TransitionError naming task, state and event", () => {
  const task = textTask("t9");
  assert.throws(() => transition(task, { type: "startTraining" }, 5), (e: unknown) => {
    assert.ok(e instanceof TransitionError);
    assert.equal(e.message, 'Cannot apply "startTraining" to task "t9" in state "received"');
    return true;
  });
  const done = transition(task, { type: "fail", reason: "deadline" }, 6);
  assert.equal(done.reason, "deadline");
  assert.throws(() => transition(done, { type: "fail", reason: "again" }, 7), TransitionError);
});

Deno.test("TaskRequest rejects a type mismatch between task and training fields", () => {
  const bad = TaskRequest.safeParse({
    id: "x",
    type: "image",
    dataset: { kind: "hf", repo: "a/b", revision: "r" },
    training: { base_model: "m", hyperparameters: { max_seq_length: 10 } },
  });
  assert.equal(bad.success, false);
  assert.match(JSON.stringify(bad.error?.issues), /max_seq_length/);
});

Deno.test("trainingSpecOf() fills every default the trainer reads", () => {
  const spec = trainingSpecOf(textTask("t2"));
  assert.equal(spec.type, "text");
  assert.equal(spec.task_id, "t2");
  assert.equal(spec.hyperparameters.max_steps, 4);
  assert.equal(spec.hyperparameters.rank, 16);
  assert.equal(spec.quality.min_improvement, 0.01);
});
