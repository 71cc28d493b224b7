/**
 * The RayActor's runs once submitted: reading a job's log (the WebSocket tail, replayed from the start on
 * each reconnect) into trainer events, stopping a job, and settling one that ended: the rest of its log,
 * its artifacts checked against the trainer's `done`, and exactly one `ended` report.
 */
import { getLogger } from "@logtape/logtape";
import type { Device } from "../../core/device.ts";
import { hashFile } from "../../core/manifest.ts";
import { outputDir } from "../../core/paths.ts";
import type { TrainerOutcome } from "../../core/training.ts";
import type { GpuReport, GpuReporter } from "../protocol.ts";
import type { RayJob } from "./ray_client.ts";
import { JobLog, jobOutcome, type Stopping } from "./ray_jobs.ts";
import type { Run, State } from "./ray_state.ts";

const log = getLogger(["satori", "ray"]);

export function isEnded(job: RayJob): boolean {
  return job.status === "SUCCEEDED" || job.status === "FAILED" || job.status === "STOPPED";
}

/** Registers a run and starts reading its log; events come back to the actor as messages. */
export function follow(
  state: State,
  taskId: string,
  sid: string,
  devices: Device[],
  report: GpuReporter | null,
  submittedMs: number,
): Run {
  const run: Run = {
    taskId,
    sid,
    devices,
    report,
    log: new JobLog(),
    submittedMs,
    started: false,
    stopping: null,
    stopSent: false,
    tail: new AbortController(),
    tailing: false,
  };
  state.runs.set(taskId, run);
  startTail(state, run);
  return run;
}

export function startTail(state: State, run: Run): void {
  run.tailing = true;
  const { self } = state;
  const { taskId, sid, tail } = run;
  void (async () => {
    let at = 0; // the tail replays the log from its start each time it connects
    try {
      for await (const text of state.deps.client.tail(sid, tail.signal)) {
        self.offer({ type: "logs", taskId, sid, text, from: at });
        at += text.length;
      }
    } catch (e) {
      if (!tail.signal.aborted) {
        log.debug("Log tail of {sid} broke: {message}", { sid, message: (e as Error).message });
      }
    }
    self.offer({ type: "tailEnded", taskId, sid });
  })();
}

/** Reports the events a log chunk completes; true when one of them is the run's last (done or error). */
export function onLogs(state: State, taskId: string, sid: string, text: string, from: number): boolean {
  const run = state.runs.get(taskId);
  if (run?.sid !== sid) return false;
  const events = run.log.push(text, from);
  for (const event of events) send(state, run, { kind: "event", taskId, event });
  return events.some((e) => e.type === "done" || e.type === "error");
}

export function send(state: State, run: Run, report: GpuReport): void {
  const delivered = run.report?.(report) ?? false;
  if (!delivered && report.kind === "ended") state.unreported.push({ report, devices: run.devices });
}

export async function stopRun(
  state: State,
  taskId: string,
  why: Exclude<Stopping, null>,
): Promise<{ ok: true } | { ok: false; reason: "not_running"; message: string }> {
  const run = state.runs.get(taskId);
  if (!run) {
    return { ok: false, reason: "not_running", message: `Cannot stop "${taskId}": no Ray job runs it` };
  }
  run.stopping ??= why;
  await sendStop(state, run);
  return { ok: true };
}

/** Asks Ray to stop the job; when the head cannot be reached, the next poll asks again (`stopSent`). */
export async function sendStop(state: State, run: Run): Promise<void> {
  try {
    await state.deps.client.stop(run.sid);
    run.stopSent = true;
  } catch (e) {
    log.warn("Cannot stop Ray job {sid} yet: {message}", { sid: run.sid, message: (e as Error).message });
  }
}

/** A job ended: read the rest of its log, check what came back, report the outcome once. */
export async function settle(state: State, run: Run, job: RayJob): Promise<void> {
  const rest = await state.deps.client.logs(run.sid);
  for (const event of run.log.push(rest, 0)) send(state, run, { kind: "event", taskId: run.taskId, event });
  for (const event of run.log.close()) send(state, run, { kind: "event", taskId: run.taskId, event });
  let outcome = jobOutcome(job, run.log, run.stopping);
  if (outcome.ok) outcome = await checkArtifacts(state, run, outcome);
  finish(state, run, outcome);
}

/** The node's adapter reached this miner byte for byte, or the run crashed. */
export async function checkArtifacts(
  state: State,
  run: Run,
  outcome: Extract<TrainerOutcome, { ok: true }>,
): Promise<TrainerOutcome> {
  const out = outputDir(state.deps.dataDir, run.taskId);
  for (const a of outcome.done.artifacts) {
    const got = await hashFile(`${out}/${a.path}`).catch(() => null);
    if (got?.sha256 !== a.sha256 || got.bytes !== a.bytes) {
      const what = got === null ? "never arrived" : "arrived with another hash";
      return { ok: false, code: "crashed", message: `Artifact ${a.path} of job ${run.sid} ${what}` };
    }
  }
  return outcome;
}

export function finish(state: State, run: Run, outcome: TrainerOutcome): void {
  run.tail.abort();
  state.runs.delete(run.taskId);
  if (!outcome.ok) log.info("Ray job {sid} ended: {message}", { sid: run.sid, message: outcome.message });
  send(state, run, { kind: "ended", taskId: run.taskId, outcome });
}
