/**
 * TaskCenterActor: owns the miner's side of the task center. Receives `prepareDataset` (fetch, unpack,
 * manifest, submit, poll the validation), `cancelDataset` (a validator's cancel before validation) and
 * `deliverResult` (outbox, then send until acknowledged),
 * plus its own timer ticks and HTTP answers. Tells `deps.report` each outcome. On start it resumes
 * what a crash interrupted: datasets still awaiting validation and every result left in the outbox.
 */
import { assertNever } from "../../core/errors.ts";
import type { TaskCenterMsg } from "../protocol.ts";
import { type ActorContext, type ActorRef, realClock, spawn } from "../runtime/actor.ts";
import { DEFAULT_LIMITS } from "./dataset/limits.ts";
import {
  cancelJob,
  onDatasetAnswered,
  onDatasetDue,
  onPrepared,
  resumeJob,
  startPrepare,
} from "./dataset_validation.ts";
import { acceptResult, onResultAnswered, onResultDue, recoverDeliveries } from "./result_delivery.ts";
import type { Private, TaskCenterDeps, TaskCenterState } from "./state.ts";
import { taskCenter } from "./task_center_client.ts";

export type { TaskCenterDeps } from "./state.ts";

type Msg = TaskCenterMsg | Private | { type: "recover" };

export function startTaskCenterActor(deps: TaskCenterDeps): ActorRef<TaskCenterMsg> {
  return spawn<Msg, TaskCenterState>({
    name: "taskCenter",
    capacity: 1_024, // one answer per task in flight, plus callers
    clock: deps.clock,
    init: (ctx) => init(deps, ctx),
    handle,
    onStop: (state) => {
      for (const job of state.jobs.values()) state.clock.clearTimeout(job.timer);
      for (const d of state.deliveries.values()) state.clock.clearTimeout(d.timer);
    },
  }) as ActorRef<TaskCenterMsg>;
}

function init(deps: TaskCenterDeps, ctx: ActorContext<Msg>): TaskCenterState {
  const clock = deps.clock ?? realClock;
  const tc = taskCenter({
    baseUrl: deps.taskCenter.url,
    signer: deps.signer,
    fetch: deps.fetch,
    timeoutMs: deps.taskCenter.request_timeout_s * 1000,
    now: () => clock.now(),
  });
  const state: TaskCenterState = {
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

async function handle(state: TaskCenterState, msg: Msg): Promise<void> {
  switch (msg.type) {
    case "prepareDataset":
      return msg.reply(await startPrepare(state, msg.taskId));
    case "deliverResult":
      return msg.reply(await acceptResult(state, msg.taskId, msg.result));
    case "cancelDataset":
      return msg.reply(await cancelJob(state, msg.taskId));
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
async function recover(state: TaskCenterState): Promise<void> {
  for await (const task of state.deps.store.tasks()) {
    if (task.state === "received" || task.state === "dataset_submitted") {
      if (!state.jobs.has(task.request.id)) await resumeJob(state, task);
    }
  }
  await recoverDeliveries(state);
}
