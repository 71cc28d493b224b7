/**
 * The miner's on-disk layout under `miner.data_dir`: every path the miner reads or writes is spelled
 * here once, so the store, the task center actor, the queue and the GPU workers cannot disagree on
 * where a task's data lies.
 *
 * ```
 * <data_dir>/miner.pid                      the running miner's pid (status, a second start)
 * <data_dir>/state/miner.kv                 Deno KV: tasks, queue index, outbox
 * <data_dir>/state/model_use.json           when each cached base model was last trained on (LRU order)
 * <data_dir>/datasets/<task-id>/            the dataset as validated
 * <data_dir>/datasets/<task-id>.manifest.json   its manifest (beside it: the trainer reads every file inside)
 * <data_dir>/datasets/.staging/<task-id>/  a download in progress (discarded after a crash)
 * <data_dir>/work/<task-id>/                task.json, trainer.pid, logs of one training
 * <data_dir>/work/<task-id>/out/            checkpoints and the trained adapter
 * ```
 */

export function pidFilePath(dataDir: string): string {
  return `${dataDir}/miner.pid`;
}

/** The key the job files server signs Ray nodes' URLs with (actors/ray/job_tokens.ts): kept across restarts. */
export function rayKeyPath(dataDir: string): string {
  return `${dataDir}/ray_files.key`;
}

export function storePath(dataDir: string): string {
  return `${dataDir}/state/miner.kv`;
}

export function modelUsePath(dataDir: string): string {
  return `${dataDir}/state/model_use.json`;
}

export function datasetDir(dataDir: string, taskId: string): string {
  return `${dataDir}/datasets/${taskId}`;
}

export function manifestPath(dataDir: string, taskId: string): string {
  return `${dataDir}/datasets/${taskId}.manifest.json`;
}

export function stagingRoot(dataDir: string): string {
  return `${dataDir}/datasets/.staging`;
}

export function workDir(dataDir: string, taskId: string): string {
  return `${dataDir}/work/${taskId}`;
}

export function outputDir(dataDir: string, taskId: string): string {
  return `${workDir(dataDir, taskId)}/out`;
}
