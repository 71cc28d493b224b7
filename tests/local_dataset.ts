/**
 * Local mode only (`satori-miner local`, tests, benchmarks): a dataset already on this machine stands
 * in for the validator's submission. It is linked where the queue looks for a task's dataset and the
 * task is walked received → dataset_submitted → dataset_validated, ready for `enqueue`. Miners serving
 * validators get there through dataset submission instead, never through this file.
 */
import { resolve } from "node:path";
import type { Store } from "../core/store.ts";
import { type Task, transition } from "../core/task.ts";

/** Where the queue expects a task's validated dataset (the default of QueueDeps.datasetDir). */
export function datasetDirOf(dataDir: string, taskId: string): string {
  return `${dataDir}/datasets/${taskId}`;
}

/**
 * Stores `task` (state `received`) with `datasetPath` as its validated dataset. Idempotent: a task
 * already stored is returned as it is.
 */
export async function acceptLocalDataset(
  store: Store,
  task: Task,
  datasetPath: string,
  dataDir: string,
  nowMs: number,
): Promise<Task> {
  const stored = await store.getTask(task.request.id);
  if (stored && stored.state !== "received") return stored;
  const link = datasetDirOf(dataDir, task.request.id);
  await Deno.mkdir(`${dataDir}/datasets`, { recursive: true });
  await Deno.remove(link).catch(() => {});
  await Deno.symlink(resolve(datasetPath), link);
  const validated = transition(
    transition(stored ?? task, { type: "submitDataset" }, nowMs),
    { type: "datasetValidated" },
    nowMs,
  );
  if (stored) return await store.updateTask(task.request.id, () => validated);
  return (await store.createTask(validated)).task;
}
