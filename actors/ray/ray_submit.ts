/**
 * The RayActor's `train`: one run of a task as one Ray job, pinned to the node whose cards the queue
 * chose, with per-job signed URLs for the node to fetch the dataset and return the adapter. A run asked
 * for twice, or already at Ray, is followed and never submitted again; an earlier run of the same task
 * still going at Ray is stopped first.
 */
import { getLogger } from "@logtape/logtape";
import { workDir } from "../../core/paths.ts";
import type { GpuReporter, TrainJob, TrainStart } from "../protocol.ts";
import { follow, isEnded, settle } from "./ray_follow.ts";
import { entrypoint, submissionId } from "./ray_jobs.ts";
import type { State } from "./ray_state.ts";

const log = getLogger(["satori", "ray"]);

export async function train(state: State, job: TrainJob, report: GpuReporter): Promise<TrainStart> {
  const { deps } = state;
  const host = job.devices[0].kind === "cuda" ? job.devices[0].host : undefined;
  if (host === undefined || job.manifestFile === null) {
    const why = host === undefined ? "its devices are not on a Ray node" : "it has no validated manifest";
    return { ok: false, reason: "busy", message: `Cannot train "${job.taskId}" on Ray: ${why}` };
  }
  const sid = submissionId(job.taskId, job.run);
  const known = state.runs.get(job.taskId);
  if (known?.sid === sid) { // asked again for a run it follows (a lost reply): the same run
    known.report = report;
    return { ok: true };
  }
  await stopEarlierRuns(state, job);
  const dir = workDir(deps.dataDir, job.taskId);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/task.json`, JSON.stringify(job.spec)); // served to the node
  const now = state.clock.now();
  const claims = { taskId: job.taskId, submissionId: sid };
  // The dataset is read as the job starts; the adapter is written back when training ends.
  const readUntil = now + deps.startTimeoutMs + 10 * 60_000;
  const writeUntil = readUntil + deps.timeLimitMs + deps.stopWaitS * 1000 + 60 * 60_000;
  const fetchUrl = await deps.files.urlFor({ ...claims, scope: "read", expiresMs: readUntil });
  const putUrl = await deps.files.urlFor({ ...claims, scope: "write", expiresMs: writeUntil });
  let submitted;
  try {
    submitted = await deps.client.submit({
      submissionId: sid,
      entrypoint: entrypoint({
        python: deps.python,
        fetchUrl,
        putUrl,
        workDir: deps.nodeWorkDir,
        name: job.taskId,
        resume: job.resume,
        nprocs: job.devices.length,
      }),
      numGpus: job.devices.length,
      // A sliver of the node's own resource pins the job to the node whose cards the queue chose.
      resources: { [`node:${host}`]: 0.001 },
      runtimeEnv: {
        working_dir: deps.trainerPackage.uri,
        env_vars: {
          ...deps.env,
          PYTHONUNBUFFERED: "1",
          // Ray's default (3 s) kills a stopped trainer before it can save its checkpoint.
          RAY_JOB_STOP_WAIT_TIME_S: String(deps.stopWaitS),
        },
      },
      metadata: { satori_task: job.taskId, satori_run: String(job.run) },
    });
  } catch (e) {
    // The submit may have landed before its answer was lost: a job Ray has is followed, not run again.
    const landed = await deps.client.job(sid).catch(() => null);
    if (!landed) {
      const message = `Cannot submit "${job.taskId}" to Ray: ${(e as Error).message}`;
      return { ok: false, reason: "busy", message };
    }
    submitted = { submitted: false, job: landed };
  }
  if (!submitted.submitted) log.info("Ray already had job {sid}: following it", { sid });
  const run = follow(state, job.taskId, sid, job.devices, report, now);
  log.info("Training task {taskId} on Ray node {host} as job {sid}", { taskId: job.taskId, host, sid });
  // Already over (a run Ray had): settled now, or by the next poll when the head does not answer.
  if (isEnded(submitted.job)) await settle(state, run, submitted.job).catch(() => {});
  return { ok: true };
}

/**
 * At most one job per task: a run the queue gave up on (its RayActor restarted under it, say) may
 * still be going at Ray, and is stopped before the next one starts.
 */
async function stopEarlierRuns(state: State, job: TrainJob): Promise<void> {
  for (let run = 1; run < job.run; run++) {
    const sid = submissionId(job.taskId, run);
    const earlier = await state.deps.client.job(sid);
    if (earlier && !isEnded(earlier)) {
      log.warn("Stopping Ray job {sid}: task {taskId} starts run {run}", {
        sid,
        taskId: job.taskId,
        run: job.run,
      });
      await state.deps.client.stop(sid);
    }
  }
}
