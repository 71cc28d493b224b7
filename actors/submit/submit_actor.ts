/**
 * SubmitActor: owns the miner's side of the task center. Receives `prepareDataset` (fetch, unpack,
 * manifest, submit, poll the validation) and `submitResult` (outbox, then send until acknowledged),
 * plus its own timer ticks and HTTP answers. Tells `deps.report` each outcome. On start it resumes
 * what a crash interrupted: datasets still awaiting validation and every result left in the outbox.
 */
import { assertNever } from "../../core/errors.ts";
import type { TaskResult } from "../../core/task.ts";
import type { PrepareDatasetResult, SubmitMsg, SubmitResultReply } from "../protocol.ts";
import { type ActorContext, type ActorRef, ask, realClock, spawn } from "../runtime/actor.ts";
import { DEFAULT_LIMITS } from "./dataset/limits.ts";
import { onDatasetAnswered, onDatasetDue, onPrepared, resumeJob, startPrepare } from "./dataset_flow.ts";
import { acceptResult, onResultAnswered, onResultDue, recoverDeliveries } from "./delivery.ts";
import type { Private, SubmitDeps, SubmitState } from "./state.ts";
import { taskCenter } from "./task_center_client.ts";

export type { SubmitDeps } from "./state.ts";
export { verifyDatasetHashes } from "./dataset/manifest.ts";
export { datasetDir, loadManifest, manifestPath } from "./dataset/prepare.ts";

type Msg = SubmitMsg | Private | { type: "recover" };

export function startSubmitActor(deps: SubmitDeps): ActorRef<SubmitMsg> {
  return spawn<Msg, SubmitState>({
    name: "submit",
    capacity: 1_024, // one answer per task in flight, plus callers
    clock: deps.clock,
    init: (ctx) => init(deps, ctx),
    handle,
    onStop: (state) => {
      for (const job of state.jobs.values()) state.clock.clearTimeout(job.timer);
      for (const d of state.deliveries.values()) state.clock.clearTimeout(d.timer);
    },
  }) as ActorRef<SubmitMsg>;
}

/**
 * Starts fetching, checking and submitting a `received` task's dataset; replies once the job is
 * running. The outcome arrives later through `deps.report` and the task's state.
 */
export function prepareDataset(
  submit: ActorRef<SubmitMsg>,
  taskId: string,
  timeoutMs = 10_000,
): Promise<PrepareDatasetResult> {
  return ask(submit, (reply) => ({ type: "prepareDataset", taskId, reply }), { timeoutMs });
}

/**
 * Queues `result` of an `uploading` (or `submitting`) task for delivery; replies once it is in the
 * durable outbox. Refused with `quality_failed` when the task never passed its quality check.
 */
export function submitResult(
  submit: ActorRef<SubmitMsg>,
  taskId: string,
  result: TaskResult,
  timeoutMs = 10_000,
): Promise<SubmitResultReply> {
  return ask(submit, (reply) => ({ type: "submitResult", taskId, result, reply }), { timeoutMs });
}

function init(deps: SubmitDeps, ctx: ActorContext<Msg>): SubmitState {
  const clock = deps.clock ?? realClock;
  const tc = taskCenter({
    baseUrl: deps.taskCenter.url,
    signer: deps.signer,
    fetch: deps.fetch,
    timeoutMs: deps.taskCenter.request_timeout_s * 1000,
    now: () => clock.now(),
  });
  const state: SubmitState = {
    deps,
    self: ctx.self as ActorRef<unknown>,
    clock,
    tc,
    limits: { ...DEFAULT_LIMITS, ...deps.limits },
    jobs: new Map(),
    deliveries: new Map(),
  };
  ctx.self.offer({ type: "recover" }); // first in the mailbox: resume before serving callers
  return state;
}

async function handle(state: SubmitState, msg: Msg): Promise<void> {
  switch (msg.type) {
    case "prepareDataset":
      return msg.reply(await startPrepare(state, msg.taskId));
    case "submitResult":
      return msg.reply(await acceptResult(state, msg.taskId, msg.result));
    case "recover":
      return await recover(state);
    case "prepared":
      return await onPrepared(state, msg);
    case "datasetDue":
      return await onDatasetDue(state, msg.taskId);
    case "datasetAnswered":
      return await onDatasetAnswered(state, msg);
    case "resultDue":
      return onResultDue(state, msg.taskId);
    case "resultAnswered":
      return await onResultAnswered(state, msg);
    default:
      assertNever(msg);
  }
}

/** Resumes dataset jobs a crash interrupted, then drains the result outbox. */
async function recover(state: SubmitState): Promise<void> {
  for await (const task of state.deps.store.tasks()) {
    if (task.state === "received" || task.state === "dataset_submitted") {
      if (!state.jobs.has(task.request.id)) await resumeJob(state, task);
    }
  }
  await recoverDeliveries(state);
}
