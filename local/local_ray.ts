/**
 * `deno task local --ray`: the local network with the miner's training on a real two-node Ray cluster
 * (scripts/ray_cluster.sh, logical GPUs). Ray runs in a network namespace with only `lo` up, and so must
 * everything that talks to it, so the command first re-executes itself inside one; inside, it gives the
 * miner a `cluster:` section for that cluster and, at the end, says which node ran each task and whether
 * the tasks trained at the same time. The cluster's token goes from its 0600 file into the parsed config
 * only (as RAY_AUTH_TOKEN would), never into the config file, a log line or the console.
 */
import { rayClient } from "../actors/ray/ray_client.ts";
import { submissionId } from "../actors/ray/ray_jobs.ts";
import { type Task, trainingRuns } from "../core/task.ts";
import { freePort } from "./chain_harness.ts";

const REPO = new URL("..", import.meta.url).pathname;

/** The cluster the inner run talks to: the `cluster:` section for the config file, the token apart. */
export type LocalCluster = { address: string; token: string; section: Record<string, unknown> };

/** True inside the cluster's namespace: `scripts/ray_cluster.sh exec|run` sets RAY_TEST_ADDRESS. */
export function insideCluster(env: Record<string, string | undefined>): boolean {
  return !!env.RAY_TEST_ADDRESS;
}

/**
 * Runs `main.ts local --ray …` again under `scripts/ray_cluster.sh run`, which starts the cluster, runs
 * it inside the namespace and stops the cluster at the end. RAY_TEST_NETNS and RAY_TEST_DIR pass through
 * with the rest of the environment (the script's defaults: namespace satori-ray, folder .ray-test).
 */
export async function reexecInCluster(
  env: Record<string, string | undefined>,
  args: string[],
): Promise<number> {
  const deno = Deno.execPath();
  const steps: [string, string[], string][] = [
    ["bash", ["scripts/setup.sh", "--ray"], "create .venv-ray (Ray 2.60)"],
    // The namespace reaches no npm registry: every module the run loads must be cached first.
    [deno, ["cache", "main.ts", "local/local_run.ts"], "cache the local network's modules"],
  ];
  for (const [cmd, cmdArgs, what] of steps) {
    const out = await new Deno.Command(cmd, { args: cmdArgs, cwd: REPO, stdin: "null" }).spawn().status;
    if (!out.success) {
      console.error(`[local] Cannot ${what}: "${cmd} ${cmdArgs.join(" ")}" exited with ${out.code}`);
      return 1;
    }
  }
  console.log(
    `[local] starting a two-node Ray cluster in namespace "${env.RAY_TEST_NETNS ?? "satori-ray"}"`,
  );
  const child = new Deno.Command("scripts/ray_cluster.sh", {
    args: ["run", deno, "run", "-A", "main.ts", ...args],
    cwd: REPO,
  }).spawn();
  // The terminal's Ctrl-C reaches the whole process group; this process waits for the script to stop
  // the cluster rather than leave it running.
  const ignore = () => {};
  Deno.addSignalListener("SIGINT", ignore);
  try {
    return (await child.status).code;
  } finally {
    Deno.removeSignalListener("SIGINT", ignore);
  }
}

/** The `cluster:` section for the cluster `ray_cluster.sh` announced in RAY_TEST_ADDRESS/_TOKEN_FILE. */
export async function localCluster(
  env: Record<string, string | undefined>,
  runDir: string,
): Promise<LocalCluster> {
  const file = env.RAY_TEST_TOKEN_FILE;
  if (!env.RAY_TEST_ADDRESS || !file) {
    throw new Error("Cannot use the Ray cluster: RAY_TEST_ADDRESS or RAY_TEST_TOKEN_FILE is not set");
  }
  const token = (await Deno.readTextFile(file)).trim();
  if (token === "") throw new Error(`Cannot use the Ray cluster: its token file "${file}" is empty`);
  return {
    address: env.RAY_TEST_ADDRESS,
    token,
    section: {
      backend: "ray",
      ray: {
        address: env.RAY_TEST_ADDRESS,
        // The nodes are this machine: they run the trainer with the repo's venv on the same disk.
        python: `${REPO}.venv/bin/python`,
        work_dir: `${runDir}/ray-nodes`,
        files: { listen: "127.0.0.1", port: freePort() },
      },
    },
  };
}

/** One task's training as its record tells it: when it entered `training` the last time, and left. */
export type Training = { taskId: string; run: number; startMs: number; endMs: number };

export function trainingOf(task: Task): Training | null {
  const { history } = task;
  const last = history.findLastIndex((h) => h.state === "training");
  if (last < 0 || last === history.length - 1) return null;
  return {
    taskId: task.request.id,
    run: trainingRuns(task),
    startMs: history[last].at_ms,
    endMs: history[last + 1].at_ms,
  };
}

/** Seconds two trainings ran at the same time; <= 0 when they did not overlap. */
export function overlapS(a: Training, b: Training): number {
  return (Math.min(a.endMs, b.endMs) - Math.max(a.startMs, b.startMs)) / 1000;
}

/**
 * Says which Ray node ran each task (its job's driver node, from the Jobs API) and whether the first two
 * (the text tasks the cluster's two GPUs take at once) trained at the same time; false when a job or its
 * node cannot be found or they did not overlap.
 */
export async function reportRayRuns(
  cluster: LocalCluster,
  tasks: Task[],
  say: (line: string) => void,
): Promise<boolean> {
  const client = rayClient({ address: cluster.address, token: cluster.token });
  const ipOf = new Map((await client.nodes()).map((n) => [n.nodeId, n.ip]));
  const trainings: Training[] = [];
  let ok = true;
  for (const task of tasks) {
    const t = trainingOf(task);
    if (t === null) {
      say(`task ${task.request.id} never trained`);
      ok = false;
      continue;
    }
    trainings.push(t);
    const sid = submissionId(t.taskId, t.run);
    const job = await client.job(sid);
    const ip = job?.driverNodeId ? ipOf.get(job.driverNodeId) : undefined;
    if (!job || !ip) ok = false;
    say(
      `task ${t.taskId} ran on Ray node ${ip ?? "(unknown)"} (job ${sid}, ${job?.status ?? "not found"}, ` +
        `${((t.endMs - t.startMs) / 1000).toFixed(1)} s in training)`,
    );
  }
  const [a, b] = trainings;
  if (!a || !b) return false;
  const s = overlapS(a, b);
  say(
    s > 0
      ? `tasks ${a.taskId} and ${b.taskId} trained at the same time for ${s.toFixed(1)} s`
      : `tasks ${a.taskId} and ${b.taskId} did NOT train at the same time`,
  );
  return ok && s > 0;
}
