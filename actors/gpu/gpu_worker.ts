/**
 * The Web Worker behind one GpuActor: runs one trainer subprocess at a time for its device(s) and
 * streams what happens back through a comlink-proxied callback. Pushing beats polling here: events
 * keep their order, reach the queue within a message hop, and no timer runs while nothing trains.
 * Methods return result unions and never throw (a throw would look like a worker crash).
 */
import * as Comlink from "comlink";
import type { TrainerEvent, TrainingSpec } from "../../core/training.ts";
import { reapLeftover, removePidFile, writePidFile } from "./leftover.ts";
import type { TrainerOutcome } from "../../core/training.ts";
import { runTrainer } from "./trainer_process.ts";
import { DatasetManifest, verifyDatasetHashes } from "../../core/manifest.ts";

/** Everything one run needs, as plain data (it crosses the worker boundary by structured clone). */
export type WorkerRun = {
  taskId: string;
  spec: TrainingSpec;
  python: string;
  trainerRoot: string;
  /** `<data_dir>/work/<task-id>`: task.json, trainer.pid and `out/` (checkpoints, artifacts). */
  workDir: string;
  /** `<work dir>/out` (core/paths.ts): checkpoints and the adapter. */
  outDir: string;
  datasetDir: string;
  manifestFile: string | null;
  resume: boolean;
  env: Record<string, string>;
  nprocs: number;
  timeLimitMs: number;
  graceMs: number;
};

export type WorkerNotice =
  | { kind: "spawned"; pid: number }
  | { kind: "event"; event: TrainerEvent }
  | { kind: "diagnostic"; line: string };

let current: { taskId: string; abort: AbortController } | null = null;

const api = {
  /** Runs the trainer to its end; resolves with the outcome, whatever happened. */
  async train(run: WorkerRun, notify: (n: WorkerNotice) => void): Promise<TrainerOutcome> {
    if (current) {
      return { ok: false, code: "crashed", message: `Cannot train "${run.taskId}": worker is busy` };
    }
    const abort = new AbortController();
    current = { taskId: run.taskId, abort };
    try {
      await Deno.mkdir(run.outDir, { recursive: true });
      await reapLeftover(run.workDir);
      // Here, off the main thread: hashing a large dataset must not stall the actors.
      const checked = await recheckDataset(run);
      if (!checked.ok) return checked;
      await Deno.writeTextFile(`${run.workDir}/task.json`, JSON.stringify(run.spec));
      let pidWritten: Promise<void> = Promise.resolve();
      const outcome = await runTrainer({
        python: run.python,
        trainerRoot: run.trainerRoot,
        taskFile: `${run.workDir}/task.json`,
        datasetDir: run.datasetDir,
        outDir: run.outDir,
        resume: run.resume,
        env: run.env,
        nprocs: run.nprocs,
        timeLimitMs: run.timeLimitMs,
        graceMs: run.graceMs,
        signal: abort.signal,
        onSpawn: (pid) => {
          pidWritten = writePidFile(run.workDir, pid);
          notify({ kind: "spawned", pid });
        },
        onEvent: (event) => notify({ kind: "event", event }),
        onDiagnostic: (line) => notify({ kind: "diagnostic", line }),
      });
      await pidWritten.catch(() => {});
      await removePidFile(run.workDir);
      return outcome;
    } catch (e) {
      return { ok: false, code: "crashed", message: `Cannot run the trainer: ${(e as Error).message}` };
    } finally {
      current = null;
      (notify as unknown as Partial<Comlink.ProxyMethods>)[Comlink.releaseProxy]?.();
    }
  },

  /** Asks the running trainer to stop (SIGTERM, then SIGKILL after the grace period). */
  cancel(taskId: string): { ok: true } | { ok: false; reason: "not_running"; message: string } {
    if (current?.taskId !== taskId) {
      return {
        ok: false,
        reason: "not_running",
        message: `Cannot cancel "${taskId}": it is not running here`,
      };
    }
    current.abort.abort();
    return { ok: true };
  },
};

/** The dataset must still be byte for byte what the task center validated. */
async function recheckDataset(
  run: WorkerRun,
): Promise<{ ok: true } | Extract<TrainerOutcome, { ok: false }>> {
  if (run.manifestFile === null) return { ok: true };
  let manifest;
  try {
    manifest = DatasetManifest.parse(JSON.parse(await Deno.readTextFile(run.manifestFile)));
  } catch (e) {
    const why = (e as Error).message.split("\n")[0];
    return {
      ok: false,
      code: "dataset_invalid",
      message: `Cannot read the dataset manifest "${run.manifestFile}": ${why}`,
    };
  }
  const check = await verifyDatasetHashes(run.datasetDir, manifest);
  return check.ok ? check : { ok: false, code: "dataset_invalid", message: check.message };
}

export type GpuWorkerApi = typeof api;

Comlink.expose(api);
