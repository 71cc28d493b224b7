/**
 * The Ray backend's pure parts: a run's submission id, the cluster's nodes as the queue's devices, the
 * job's entrypoint, the job log read as trainer events, and a finished job's outcome. Nothing here
 * does I/O, so each is tested on its own (ray_jobs_test.ts).
 */
import type { Device } from "../../core/device.ts";
import type { TrainerOutcome } from "../../core/training.ts";
import { EventDecoder, LineTail, newRunEnd, outcomeOf, type RunEnd } from "../gpu/trainer_events.ts";
import type { TrainerEvent } from "../../core/training.ts";
import type { RayJob, RayNode } from "./ray_client.ts";

/**
 * One run of a task, one Ray job: the id is the task id (letters, digits, `.`, `_`, `-`: core/task.ts)
 * and the run's number, so a miner that lost its memory finds the job again, and submitting a run
 * twice is refused by Ray as a duplicate instead of training twice.
 */
export function submissionId(taskId: string, run: number): string {
  return `satori-${taskId}-run${run}`;
}

/**
 * Every GPU of every live node as a device: `host` is the node's address (one run's cards share it,
 * and `node:<ip>` pins the job there), memory is what the node's agent reports per card, else the
 * operator's `cluster.ray.gpu_memory_mb` (logical GPUs report none).
 */
export function clusterDevices(nodes: readonly RayNode[], defaultMemoryMb: number): Device[] {
  return nodes
    .filter((n) => n.alive && n.gpus >= 1)
    .sort((a, b) => a.ip.localeCompare(b.ip, "en", { numeric: true }))
    .flatMap((n) =>
      Array.from({ length: Math.floor(n.gpus) }, (_, index): Device => ({
        kind: "cuda",
        index,
        uuid: `${n.nodeId}/${index}`,
        name: `GPU ${index} of Ray node ${n.ip}`,
        memoryTotalMb: n.gpuMemoryMb[index] ?? n.gpuMemoryMb[0] ?? defaultMemoryMb,
        memoryUsedMb: 0,
        utilization: 0,
        host: n.ip,
      }))
    );
}

/** A word for `sh -c`: single-quoted, so nothing in it is expanded. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

export type EntrypointArgs = {
  python: string;
  fetchUrl: string;
  putUrl: string;
  workDir: string;
  name: string;
  resume: boolean;
  /** GPUs Ray gives the job: above 1 the node runs the trainer under torchrun. */
  nprocs: number;
};

/**
 * `python -m trainer remote …` (trainer/remote.py), run by Ray in the trainer package's folder. Ray
 * runs the entrypoint with `sh -c`; `exec` makes the wrapper the supervisor's own child, so its
 * parent-death check (trainer/lifeline.py) watches Ray's process and not a shell that outlives it.
 */
export function entrypoint(a: EntrypointArgs): string {
  const words = [a.python, "-m", "trainer", "remote", "--fetch", a.fetchUrl, "--put", a.putUrl];
  words.push("--work", a.workDir, "--name", a.name, "--nprocs", String(a.nprocs));
  return `exec ${[...words, ...(a.resume ? ["--resume"] : [])].map(shellQuote).join(" ")}`;
}

/** Lines Ray writes into every job's log before the entrypoint's own output. */
const RAY_PREAMBLE = [/^Running entrypoint for job /, /Runtime env is setting up\.$/];

/**
 * A job's log, read as the trainer's stdout: the same EventDecoder as a local run, so events mean the
 * same wherever they ran. Ray's log holds stdout and stderr together: the lines that are not events
 * are kept as the stderr tail for a failure's message, except Ray's own preamble, which repeats the
 * entrypoint. The log tail replays from the start when it reconnects, so text already read is skipped
 * by its length.
 */
export class JobLog {
  readonly end: RunEnd = newRunEnd();
  /** Characters read so far. */
  read = 0;
  private readonly decoder = new EventDecoder();
  private readonly bytes = new TextEncoder();
  private readonly stderr = new LineTail(20);

  /** `text` is the log from character `from` on; returns the events it completes. */
  push(text: string, from = this.read): TrainerEvent[] {
    const fresh = text.slice(Math.max(0, this.read - from));
    this.read = Math.max(this.read, from + text.length);
    return this.take(this.decoder.push(this.bytes.encode(fresh)));
  }

  /** The log is complete: a last line without a newline is read too. */
  close(): TrainerEvent[] {
    return this.take(this.decoder.end());
  }

  private take(decoded: ReturnType<EventDecoder["push"]>): TrainerEvent[] {
    const events: TrainerEvent[] = [];
    for (const d of decoded) {
      if (d.ok) {
        if (d.event.type === "done") this.end.done = d.event;
        if (d.event.type === "error") this.end.error = { code: d.event.code, message: d.event.message };
        events.push(d.event);
        continue;
      }
      if (!RAY_PREAMBLE.some((p) => p.test(d.text))) this.stderr.push(this.bytes.encode(`${d.text}\n`));
    }
    this.end.stderrTail = this.stderr.last;
    return events;
  }
}

export type Stopping = null | "cancel" | "timeout" | "not_started";

/**
 * How a finished job ended, in the local trainer's terms (trainer_events.ts `outcomeOf`): success
 * only with `done` and exit code 0. A job Ray failed without an exit code lost its node or its
 * supervisor: a crash, retried by the queue like a local trainer's. One the miner stopped before Ray
 * started it never ran: cancelled, so it goes back to the queue without using an attempt.
 */
export function jobOutcome(job: RayJob, log: JobLog, stopping: Stopping): TrainerOutcome {
  if (stopping === "not_started") {
    return { ok: false, code: "cancelled", message: `Ray did not start job ${job.submissionId} in time` };
  }
  const end: RunEnd = { ...log.end, timedOut: stopping === "timeout", cancelled: stopping === "cancel" };
  if (job.status === "SUCCEEDED") end.status = { code: 0, signal: null };
  else if (job.driverExitCode !== null) end.status = { code: job.driverExitCode, signal: null };
  else if (job.status === "FAILED" && !end.error) {
    const why = job.errorType ? `${job.errorType}: ${job.message ?? ""}` : job.message ?? "no reason given";
    return { ok: false, code: "crashed", message: `Ray job ${job.submissionId} failed (${why.trim()})` };
  }
  if (job.status === "STOPPED" && stopping === null && !end.error) {
    return {
      ok: false,
      code: "crashed",
      message: `Ray job ${job.submissionId} was stopped outside the miner`,
    };
  }
  return outcomeOf(end);
}
