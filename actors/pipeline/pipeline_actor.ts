/**
 * PipelineActor: owns a task's path between the actors — axon → queue (admit) → task center (dataset)
 * → queue (train) → upload → task center (result). Receives `accept` and `withdraw` (a validator's
 * cancel, routed to the actor holding the task: withdraw.ts) from the axon and the reports of
 * the queue and the task center actor; sends each task its next step as an ask (steps.ts) whose answer
 * comes back as a message. A step whose actor is restarting, full or slow is retried by a timer message
 * with backoff and never given up on. Its only write is the end of a failed upload. It starts by resuming
 * every unfinished task the store holds, so a restart of it, or of any actor it asks, loses nothing.
 */
import { getLogger } from "@logtape/logtape";
import { assertNever, unavailableOf } from "../../core/errors.ts";
import type { Store } from "../../core/store.ts";
import { newTask, type Task, TERMINAL_STATES, transition } from "../../core/task.ts";
import {
  type AcceptResult,
  admit,
  type AdmitResult,
  type PipelineMsg,
  running,
  type TaskReport,
} from "../protocol.ts";
import { type ActorContext, type ActorRef, type Clock, realClock, spawn } from "../runtime/actor.ts";
import { type Backoff, backoffDelay } from "../runtime/intensity.ts";
import { perform, resultOf, type Step, type StepActors, type StepAnswer, stepFor, stepKey } from "./steps.ts";
import { withdraw, type WithdrawContext, type Withdrawn, withdrawn } from "./withdraw.ts";

const log = getLogger(["satori", "pipeline"]);

/** Retries of a step whose actor is down: about a supervisor's backoff, then every 10 s at most. */
const DEFAULT_BACKOFF: Backoff = { minMs: 500, maxMs: 10_000, jitter: 0.2 };

export type PipelineDeps = StepActors & {
  store: Store;
  clock?: Clock;
  backoff?: Backoff;
  /** [0, 1): the backoff's jitter. */
  random?: () => number;
  /** Told when a task reaches an end state (done, failed), for `local` and tests; must not throw. */
  onSettled?: (task: Task) => void;
};

type Run = { step: Step; attempt: number; timer: unknown; inFlight: boolean };

type State = {
  deps: PipelineDeps;
  clock: Clock;
  self: ActorRef<Msg>;
  /** The hand-off in flight or waiting for its retry, one per step key. */
  runs: Map<string, Run>;
};

type Private =
  | Withdrawn
  | { type: "resume" }
  | { type: "admitted"; task: Task; answer: Answer<AdmitResult>; reply: (r: AcceptResult) => void }
  | { type: "due"; key: string }
  | { type: "answered"; key: string; answer: Answer<StepAnswer> };
type Msg = PipelineMsg | Private;
type Answer<T> = { ok: true; value: T } | { ok: false; error: unknown };

export function startPipelineActor(deps: PipelineDeps): ActorRef<PipelineMsg> {
  return spawn<Msg, State>({
    name: "pipeline",
    capacity: 4_096, // reports of every task in flight, plus the axon's accepts
    clock: deps.clock,
    init: (ctx) => init(deps, ctx),
    handle,
    onStop: (state) => {
      for (const run of state.runs.values()) state.clock.clearTimeout(run.timer);
    },
  }) as ActorRef<PipelineMsg>;
}

function init(deps: PipelineDeps, { self, clock }: ActorContext<Msg>): State {
  self.offer({ type: "resume" }); // first in the mailbox: pick up what the store says is unfinished
  return { deps, clock: deps.clock ?? clock ?? realClock, self, runs: new Map() };
}

async function handle(state: State, msg: Msg): Promise<void> {
  switch (msg.type) {
    case "accept":
      return accept(state, msg);
    case "admitted":
      return admitted(state, msg);
    case "withdraw":
      return await withdraw(withdrawContext(state), msg.taskId, msg.reply);
    case "withdrawn":
      return await withdrawn(withdrawContext(state), msg);
    case "report":
      return onReport(state, msg.report);
    case "resume":
      return await resume(state);
    case "due":
      return runStep(state, msg.key);
    case "answered":
      return await onAnswered(state, msg.key, msg.answer);
    default:
      assertNever(msg);
  }
}

/**
 * A validator's task: the queue admits it (it owns `miner.max_queue_size` and what validators may
 * ask for), off this handler so that admits arriving together share the queue's group commit. The
 * record keeps the sender's stake, which ranks validators; the task's own priority only orders that
 * validator's tasks.
 */
function accept(state: State, msg: Extract<PipelineMsg, { type: "accept" }>): void {
  const { request, sender, reply } = msg;
  const task = newTask(request, sender.hotkey, state.clock.now(), sender.stakeTao);
  const told = (answer: Answer<AdmitResult>) => state.self.offer({ type: "admitted", task, answer, reply });
  try {
    admit(running(state.deps.queue(), "queue actor"), task).then(
      (value) => told({ ok: true, value }),
      (error) => told({ ok: false, error }),
    );
  } catch (error) {
    told({ ok: false, error });
  }
}

function admitted(state: State, { task, answer, reply }: Extract<Private, { type: "admitted" }>): void {
  const taskId = task.request.id;
  if (!answer.ok) {
    const busy = unavailableOf(answer.error);
    if (!busy) throw answer.error;
    const { message, what, retryAfterS } = busy;
    return reply({ ok: false, reason: "unavailable", message, what, retryAfterS });
  }
  const admittedTask = answer.value;
  if (!admittedTask.ok) return reply(admittedTask);
  const { position, duplicate } = admittedTask;
  if (duplicate) {
    // Nothing new is done: the validator learns where its earlier task is, as the protocol promises.
    const stored = admittedTask.task.state;
    log.info("Task {taskId} sent again by {validator}: already {state}", {
      taskId,
      validator: task.validator_hotkey,
      state: stored,
    });
    const where = position > 0 ? ` at queue position ${position}` : "";
    const message = `Task "${taskId}" was already sent by this validator: it is "${stored}"${where}`;
    return reply({ ok: false, reason: "duplicate", message, taskId, state: stored, position });
  }
  log.info("Task {taskId} accepted from {validator} at position {position}", {
    taskId,
    validator: task.validator_hotkey,
    position,
  });
  start(state, { kind: "prepareDataset", taskId });
  reply({ ok: true, taskId, position });
}

function withdrawContext(state: State): WithdrawContext {
  return {
    actors: state.deps,
    store: state.deps.store,
    tell: (msg) => void state.self.offer(msg),
    settled: (task) => settled(state, task),
  };
}

function onReport(state: State, report: TaskReport): void {
  const taskId = report.task.request.id;
  switch (report.kind) {
    case "datasetValidated":
      return start(state, { kind: "enqueue", taskId });
    case "trained":
      return start(state, { kind: "upload", taskId });
    case "datasetFailed":
    case "resultFailed":
      log.warn("Task {taskId} failed: {reason}", { taskId, reason: report.task.reason });
      return settled(state, report.task);
    case "resultDelivered":
      log.info("Task {taskId} done: result delivered for {repo}", {
        taskId,
        repo: report.task.result?.repo_id,
      });
      return settled(state, report.task);
    default:
      assertNever(report);
  }
}

/** Every task the store holds between two actors gets its next hand-off again (each is idempotent). */
async function resume(state: State): Promise<void> {
  let resumed = 0;
  for await (const task of state.deps.store.tasks()) {
    const step = stepFor(task);
    if (step === null) continue;
    start(state, step);
    resumed++;
  }
  if (resumed) log.info("Resuming the next step of {n} unfinished task(s)", { n: resumed });
}

function start(state: State, step: Step): void {
  const key = stepKey(step);
  if (state.runs.has(key)) return;
  state.runs.set(key, { step, attempt: 0, timer: undefined, inFlight: false });
  runStep(state, key);
}

function runStep(state: State, key: string): void {
  const run = state.runs.get(key);
  if (!run || run.inFlight) return;
  run.timer = undefined;
  run.inFlight = true;
  const told = (answer: Answer<StepAnswer>) => state.self.offer({ type: "answered", key, answer });
  perform(run.step, state.deps, state.deps.store).then(
    (value) => told({ ok: true, value }),
    (error) => told({ ok: false, error }),
  );
}

async function onAnswered(state: State, key: string, answer: Answer<StepAnswer>): Promise<void> {
  const run = state.runs.get(key);
  if (!run) return;
  run.inFlight = false;
  if (!answer.ok) return retry(state, run, answer.error);
  state.runs.delete(key);
  const { step } = run;
  const a = answer.value;
  switch (a.kind) {
    case "moved":
      return log.debug("Task {taskId}: {step} no longer needed (now {state})", {
        taskId: step.taskId,
        step: step.kind,
        state: a.state,
      });
    case "prepareDataset":
    case "deliverResult":
      if (!a.reply.ok) {
        log.warn("Task {taskId}: {step} refused: {message}", {
          taskId: step.taskId,
          step: step.kind,
          message: a.reply.message,
        });
      }
      return;
    case "enqueue":
      if (!a.reply.ok) {
        log.warn("Task {taskId} not queued: {message}", { taskId: step.taskId, message: a.reply.message });
      }
      return;
    case "upload":
      return await uploaded(state, a);
    default:
      assertNever(a);
  }
}

/** An actor on the step's path is restarting, full or slow: try again after a backoff, for ever. */
function retry(state: State, run: Run, error: unknown): void {
  const busy = unavailableOf(error);
  if (!busy) throw error; // a bug, not a busy actor: crash, and the restart resumes from the store
  const ms = backoffDelay(run.attempt++, state.deps.backoff ?? DEFAULT_BACKOFF, state.deps.random);
  log.warn("Task {taskId}: {step} waits {ms} ms: {message}", {
    taskId: run.step.taskId,
    step: run.step.kind,
    ms: Math.round(ms),
    message: busy.message,
  });
  const key = stepKey(run.step);
  run.timer = state.clock.setTimeout(() => state.self.offer({ type: "due", key }), ms);
}

async function uploaded(state: State, a: Extract<StepAnswer, { kind: "upload" }>): Promise<void> {
  const taskId = a.task.request.id;
  if (a.reply.ok) {
    log.info("Task {taskId} uploaded to {url}", { taskId, url: a.reply.url });
    return start(state, { kind: "deliverResult", taskId, result: resultOf(a.reply, a.task) });
  }
  // The record's reason reaches the validator: the code only. The message may name local files.
  const reason = `Upload failed (${a.reply.reason})`;
  const failed = await state.deps.store.updateTask(
    taskId,
    (t) => TERMINAL_STATES.has(t.state) ? t : transition(t, { type: "fail", reason }, state.clock.now()),
  );
  log.error("Task {taskId} failed: {reason}: {message}", { taskId, reason, message: a.reply.message });
  settled(state, failed);
}

function settled(state: State, task: Task): void {
  state.deps.onSettled?.(task);
}
