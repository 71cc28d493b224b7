/**
 * Runs one trainer subprocess: `python -m trainer run …` with an argument array (never a shell),
 * in its own process group so cancel and time-outs reap everything it started. Cancel is SIGTERM
 * (the trainer checkpoints and says `cancelled`), then SIGKILL to the group after a grace period.
 */
import type { TrainerEvent } from "../../core/training.ts";
import { EventDecoder, LineTail, newRunEnd, outcomeOf } from "./trainer_events.ts";
import type { TrainerOutcome } from "../../core/training.ts";

export type TrainerRun = {
  python: string;
  /** Directory that holds the `trainer` package (the repo root). */
  trainerRoot: string;
  taskFile: string;
  datasetDir: string;
  outDir: string;
  resume: boolean;
  /** Extra environment, e.g. CUDA_VISIBLE_DEVICES for the device this run owns. */
  env: Record<string, string>;
  /** Processes to launch, one per GPU; above 1 the trainer runs under torchrun (data parallel). */
  nprocs?: number;
  timeLimitMs: number;
  graceMs: number;
  onEvent: (event: TrainerEvent) => void;
  /** Called once the process exists, with its pid (also its process group id). */
  onSpawn?: (pid: number) => void;
  /** Non-contract stdout lines and stderr lines, for the log. */
  onDiagnostic?: (line: string) => void;
  signal?: AbortSignal;
};

export const STDERR_TAIL_LINES = 20;

/**
 * The argument array after `python`. For N > 1 processes it is `torchrun` run as a module of the same
 * interpreter (`python -m torch.distributed.run` is what the `torchrun` script does), so the venv's
 * torch is the one used and no second executable needs to be on PATH.
 */
export function trainerArgs(
  run: Pick<TrainerRun, "taskFile" | "datasetDir" | "outDir" | "resume" | "nprocs">,
): string[] {
  const nprocs = run.nprocs ?? 1;
  const launcher = nprocs > 1
    ? ["-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", String(nprocs)]
    : [];
  const trainer = ["-m", "trainer", "run", "--task", run.taskFile, "--dataset", run.datasetDir];
  return [...launcher, ...trainer, "--out", run.outDir, ...(run.resume ? ["--resume"] : [])];
}

export async function runTrainer(run: TrainerRun): Promise<TrainerOutcome> {
  const child = new Deno.Command(run.python, {
    args: trainerArgs(run),
    cwd: run.trainerRoot,
    env: { PYTHONUNBUFFERED: "1", ...run.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    detached: true, // own session and process group: kill(-pid) reaps DataLoader workers and torchrun ranks
  }).spawn();
  run.onSpawn?.(child.pid);

  const end = newRunEnd();
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const stop = (why: "timeout" | "cancel") => {
    if (why === "timeout") end.timedOut = true;
    else end.cancelled = true;
    signalGroup(child.pid, "SIGTERM");
    killTimer ??= setTimeout(() => signalGroup(child.pid, "SIGKILL"), run.graceMs);
  };
  const limit = setTimeout(() => stop("timeout"), run.timeLimitMs);
  const onAbort = () => stop("cancel");
  if (run.signal?.aborted) onAbort();
  run.signal?.addEventListener("abort", onAbort, { once: true });

  const stderr = new LineTail(STDERR_TAIL_LINES);
  const readStdout = (async () => {
    const decoder = new EventDecoder();
    const handle = (decoded: ReturnType<EventDecoder["push"]>) => {
      for (const d of decoded) {
        if (!d.ok) {
          run.onDiagnostic?.(`trainer stdout line ${d.line} ignored: ${d.problem}`);
          continue;
        }
        if (d.event.type === "done") end.done = d.event;
        if (d.event.type === "error") end.error = { code: d.event.code, message: d.event.message };
        run.onEvent(d.event);
      }
    };
    for await (const chunk of child.stdout) handle(decoder.push(chunk));
    handle(decoder.end());
  })();
  const readStderr = (async () => {
    for await (const chunk of child.stderr) for (const line of stderr.push(chunk)) run.onDiagnostic?.(line);
  })();

  try {
    const status = await child.status;
    // The leader is gone: whatever it left in its group (a DataLoader worker, a shell's `sleep`) is an
    // orphan that may hold our pipes open, so reap it before waiting for the streams to close.
    signalGroup(child.pid, "SIGKILL");
    await Promise.all([readStdout, readStderr]);
    end.status = { code: status.code, signal: status.signal };
  } finally {
    clearTimeout(limit);
    clearTimeout(killTimer);
    run.signal?.removeEventListener("abort", onAbort);
    signalGroup(child.pid, "SIGKILL"); // also when reading failed
  }
  end.stderrTail = stderr.last;
  return outcomeOf(end);
}

/** Signals the whole process group led by `pid`; a group that is already gone is not an error. */
export function signalGroup(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pid, signal);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound) && !(e instanceof TypeError)) throw e;
  }
}
