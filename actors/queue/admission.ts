/**
 * Admission and group commit. The queue owns `miner.max_queue_size` over every accepted task not yet
 * training (received, dataset_submitted, dataset_validated, queued). `admit` and `enqueue` decide
 * against the in-memory counts at once, reserving the slot, and leave their write in `state.batch`:
 * the admits and enqueues already waiting in the mailbox join it, one `kv.atomic()` writes them all
 * (`flush`), and only then does each caller get its reply. What memory cannot decide alone (an id it
 * does not know to be new, a full queue, a passed deadline) takes the slow path: flush, read, decide.
 * A task that fails before it is queued (its dataset refused) frees its slot in the store, the one
 * truth: a full queue re-reads its waiting records before refusing, and a restart recounts from KV.
 * No message has to keep the count in step. What is refused and why is refusal.ts. An id is the
 * sending validator's: sent again by it, admit answers the stored record (`duplicate`); sent by
 * another validator, it is refused (`id_taken`) and tells nothing of the task that holds it.
 */
import { getLogger } from "@logtape/logtape";
import type { CreateResult, Stamped } from "../../core/store.ts";
import { type Task, type TaskState, transition } from "../../core/task.ts";
import type { AdmitResult, EnqueueResult, Reply } from "../protocol.ts";
import { compareEntries, entryOf, insertEntry, removeEntry } from "./priority.ts";
import { admitRefusalOf, admittedCount, enqueueRefusalOf, type Refusal } from "./refusal.ts";
import { dispatch } from "./runs.ts";
import type { QueueState } from "./state.ts";

export { admittedCount };

const log = getLogger(["satori", "queue"]);

/** States of an accepted task whose dataset is not yet validated and queued: it holds a slot. */
export const PRE_QUEUE: ReadonlySet<TaskState> = new Set([
  "received",
  "dataset_submitted",
  "dataset_validated",
]);

export async function onAdmit(state: QueueState, task: Task, reply: Reply<AdmitResult>): Promise<void> {
  if (!admitNow(state, task, reply)) {
    await flush(state);
    reply(await admitSlow(state, task));
  }
  await flushWhenIdle(state);
}

export async function onEnqueue(state: QueueState, task: Task, reply: Reply<EnqueueResult>): Promise<void> {
  if (!enqueueNow(state, task, reply)) {
    await flush(state);
    reply(await enqueueSlow(state, task));
    await dispatch(state);
  }
  await flushWhenIdle(state);
}

/** 1-based place of `id` among the admitted tasks not yet training, in dispatch order; 0 if not there. */
export function positionOf(state: QueueState, id: string): number {
  const entry = state.waiting.get(id) ?? state.queued.find((e) => e.id === id);
  if (!entry) return 0;
  let before = 0;
  for (const e of state.queued) if (compareEntries(e, entry) < 0) before++;
  for (const e of state.waiting.values()) if (compareEntries(e, entry) < 0) before++;
  return before + 1;
}

/** Writes the batch in one group commit, then answers each caller and dispatches. */
export async function flush(state: QueueState): Promise<void> {
  if (state.batch.length === 0) return;
  const batch = state.batch;
  state.batch = [];
  const creates = batch.filter((p) => p.kind === "create");
  const updates = batch.filter((p) => p.kind === "update");
  const [created, updated] = await Promise.all([
    state.deps.store.createTasks(creates.map((p) => p.task)),
    state.deps.store.updateTasks(updates.map((p) => p.update)),
  ]);
  for (const [k, p] of creates.entries()) await p.done(created[k]);
  for (const [k, p] of updates.entries()) await p.done(updated[k]);
  await dispatch(state);
}

async function flushWhenIdle(state: QueueState): Promise<void> {
  if (state.backlog() === 0 || state.batch.length >= (state.deps.batchMax ?? 100)) await flush(state);
}

function pending(state: QueueState, id: string): boolean {
  return state.batch.some((p) => (p.kind === "create" ? p.task.request.id : p.update.id) === id);
}

/** A refusal that a re-read of the waiting records may lift (a task failed elsewhere frees its slot). */
function recountable(refusal: Refusal | null): boolean {
  return refusal?.reason === "queue_full" || refusal?.reason === "validator_quota";
}

/** The fast path of admit; false when it needs the slow one. */
function admitNow(state: QueueState, task: Task, reply: Reply<AdmitResult>): boolean {
  const id = task.request.id;
  if (state.waiting.has(id) || state.records.has(id) || state.running.has(id) || pending(state, id)) {
    return false;
  }
  const refusal = admitRefusalOf(state, task);
  if (recountable(refusal) && state.waiting.size > 0) return false;
  if (refusal) return reply(refusal), true;
  state.waiting.set(id, entryOf(task));
  state.batch.push({
    kind: "create",
    task,
    done: async (r) => {
      if (r.ok) return reply({ ok: true, task, duplicate: false, position: positionOf(state, id) });
      state.waiting.delete(id);
      reply(await admitSlow(state, task));
    },
  });
  return true;
}

async function admitSlow(state: QueueState, task: Task): Promise<AdmitResult> {
  const id = task.request.id;
  const [record] = await state.deps.store.getTasks([id]);
  if (record) return duplicateOf(state, record.task, task);
  let refusal = admitRefusalOf(state, task);
  if (recountable(refusal)) {
    await refreshWaiting(state);
    refusal = admitRefusalOf(state, task);
  }
  if (refusal) return refusal;
  const created = await state.deps.store.createTask(task);
  if (!created.ok) return duplicateOf(state, created.task, task);
  state.waiting.set(id, entryOf(task));
  return { ok: true, task, duplicate: false, position: positionOf(state, id) };
}

/** `stored` holds the id `sent` asks for: the same validator's task again, or another's. */
function duplicateOf(state: QueueState, stored: Task, sent: Task): AdmitResult {
  const id = stored.request.id;
  if (PRE_QUEUE.has(stored.state)) {
    if (!state.waiting.has(id)) state.waiting.set(id, entryOf(stored));
  } else if (stored.state !== "queued") state.waiting.delete(id); // it moved on (failed elsewhere)
  if (stored.validator_hotkey !== sent.validator_hotkey) {
    // Said the same way whatever the other task is: its state, sender and content stay private.
    const message =
      `Cannot accept task "${id}": this id is already taken on this miner; send it under another id`;
    return { ok: false, reason: "id_taken", message };
  }
  return { ok: true, task: stored, duplicate: true, position: positionOf(state, id) };
}

/**
 * Drops waiting tasks that the task center actor failed since they were admitted, read from the store.
 * At most once a second: a burst of refusals on a full queue costs one re-read, not one each.
 */
export async function refreshWaiting(state: QueueState): Promise<void> {
  const now = state.clock.now();
  if (now - state.recountedMs < 1_000) return;
  state.recountedMs = now;
  const ids = [...state.waiting.keys()];
  const records = await state.deps.store.getTasks(ids);
  records.forEach((r, k) => {
    if (!r || !PRE_QUEUE.has(r.task.state)) state.waiting.delete(ids[k]);
  });
}

/** The fast path of enqueue; false when it needs the slow one. */
function enqueueNow(state: QueueState, given: Task, reply: Reply<EnqueueResult>): boolean {
  const id = given.request.id;
  if (given.state !== "dataset_validated") return false;
  if (state.records.has(id) || state.running.has(id) || pending(state, id)) return false;
  const admitted = state.waiting.get(id);
  const refusal = enqueueRefusalOf(state, given, !admitted);
  if (refusal?.reason === "deadline" || (refusal?.reason === "queue_full" && state.waiting.size > 0)) {
    return false;
  }
  if (refusal) return reply(refusal), true;
  const now = state.clock.now();
  const undo = async () => {
    removeEntry(state.queued, id);
    reply(await enqueueSlow(state, given));
  };
  const queued = (record: Stamped) => {
    state.records.set(id, record);
    logQueued(state, record.task);
    reply({ ok: true, task: record.task, duplicate: false });
  };
  if (admitted) {
    state.waiting.delete(id);
    insertEntry(state.queued, admitted);
    const change = (
      t: Task,
    ) => (t.state === "dataset_validated" ? transition(t, { type: "enqueue" }, now) : null);
    const done = async (r: Stamped) => {
      if (r.task.state === "queued") return queued(r);
      if (PRE_QUEUE.has(r.task.state)) state.waiting.set(id, admitted);
      await undo();
    };
    state.batch.push({ kind: "update", update: { id, change }, done });
  } else {
    const task = transition(given, { type: "enqueue" }, now);
    insertEntry(state.queued, entryOf(task));
    const done = async (r: CreateResult) =>
      r.ok ? queued({ task: r.task, versionstamp: r.versionstamp }) : await undo();
    state.batch.push({ kind: "create", task, done });
  }
  return true;
}

/** Enqueue decided from the stored record: a duplicate, a wrong state, a passed deadline, a recount. */
async function enqueueSlow(state: QueueState, given: Task): Promise<EnqueueResult> {
  const { store } = state.deps;
  const id = given.request.id;
  const [record] = await store.getTasks([id]);
  const task = record?.task ?? given;
  if (task.state !== "dataset_validated") {
    if (record && !["received", "dataset_submitted"].includes(task.state)) {
      return { ok: true, task, duplicate: true };
    }
    return {
      ok: false,
      reason: "invalid_state",
      message: `Cannot enqueue task "${id}": it is in state "${task.state}", not "dataset_validated"`,
    };
  }
  const now = state.clock.now();
  const admitted = state.waiting.has(id);
  let refusal = enqueueRefusalOf(state, task, !admitted);
  if (refusal?.reason === "queue_full") {
    await refreshWaiting(state);
    refusal = enqueueRefusalOf(state, task, !state.waiting.has(id));
  }
  if (refusal?.reason === "deadline") {
    const failed = transition(task, { type: "fail", reason: "deadline" }, now);
    await (record
      ? store.updateTasks([{ id, known: record, change: () => failed }])
      : store.createTask(failed));
    state.waiting.delete(id);
  }
  if (refusal) return refusal;
  const enqueue = (t: Task) => transition(t, { type: "enqueue" }, now);
  let queued: Stamped;
  if (record) {
    [queued] = await store.updateTasks([{ id, known: record, change: enqueue }]);
  } else {
    const created = await store.createTask(enqueue(given));
    if (!created.ok) return { ok: true, task: created.task, duplicate: true };
    queued = { task: created.task, versionstamp: created.versionstamp };
  }
  state.waiting.delete(id);
  state.records.set(id, queued);
  insertEntry(state.queued, entryOf(queued.task));
  logQueued(state, queued.task);
  return { ok: true, task: queued.task, duplicate: false };
}

function logQueued(state: QueueState, task: Task): void {
  log.info("Queued task {taskId} (priority {priority}, {n} waiting)", {
    taskId: task.request.id,
    priority: task.request.priority,
    n: state.queued.length,
  });
}
