/**
 * `deno task local`: starts the local network and the miner on it, then plays the validator: sends a
 * tiny text LoRA task (and an image one with `--image`) over the Bittensor axon protocol and follows it
 * with TaskStatus until it is done, printing each step and, at the end, where the adapter and the
 * result are. CPU only; a few minutes on a laptop. With `--ray` the miner trains on a two-node Ray
 * cluster instead (local/local_ray.ts) and two text tasks are sent, to train at the same time.
 */
import { loadConfig } from "../core/config.ts";
import { setupLogging } from "../core/logging.ts";
import { runMiner } from "../actors/tree.ts";
import {
  buildTiny,
  chainSpecPath,
  type LocalNetwork,
  startLocalNetwork,
  tinyTaskRequest,
} from "./local_network.ts";
import type { Task, TaskRequest } from "../core/task.ts";
import type { PyValue } from "../actors/axon/body_hash.ts";
import { syncMetagraph } from "../actors/protocol.ts";
import type { ChainMsg } from "../actors/protocol.ts";
import type { ActorRef } from "../actors/runtime/actor.ts";
import type { Supervisor } from "../actors/runtime/supervisor.ts";
import type { Store } from "../core/store.ts";
import {
  insideCluster,
  type LocalCluster,
  localCluster,
  reexecInCluster,
  reportRayRuns,
} from "./local_ray.ts";

const REPO = new URL("..", import.meta.url).pathname;
const TASK_TIMEOUT_MS = 15 * 60_000;
const END_STATES = new Set(["done", "failed", "rejected"]);

export type LocalOptions = { image: boolean; ray?: boolean; configPath?: string };

export async function runLocal(env: Record<string, string | undefined>, opts: LocalOptions): Promise<number> {
  if (opts.configPath) await loadConfig(env, opts.configPath); // only validated: local mode writes its own
  if (opts.ray && !insideCluster(env)) return await reexecInCluster(env, localArgs(opts));
  try {
    await Deno.stat(chainSpecPath(env));
  } catch {
    console.error(
      `Cannot start the local chain: no Subtensor chain spec at "${chainSpecPath(env)}". ` +
        "Point SATORI_CHAIN_SPEC at a raw chain spec (e.g. raonet.json from opentensor/subtensor).",
    );
    return 2;
  }
  const runDir = `${REPO}data/local/run-${new Date().toISOString().replaceAll(/[:.]/g, "-")}`;
  const python = `${REPO}.venv/bin/python`;
  // With Ray, two text tasks: one for each node's GPU, at the same time.
  const kinds: ("text" | "image")[] = opts.ray ? ["text", "text"] : ["text"];
  if (opts.image) kinds.push("image");
  say(`run folder: ${runDir}`);
  say("building tiny models and toy datasets (nothing is downloaded)");
  const unique = [...new Set(kinds)];
  const built = await Promise.all(unique.map((k) => buildTiny(python, k, `${runDir}/tiny-${k}`)));
  const tiny = kinds.map((k) => built[unique.indexOf(k)]);
  const cluster = opts.ray ? await localCluster(env, runDir) : undefined;

  say("starting the local network: Subtensor (chopsticks, raonet), HF Hub, task center, dataset host");
  await using net = await startLocalNetwork(runDir, env, { baseModels: built.map((t) => t.model), cluster });
  if (cluster) say(`miner trains on the Ray cluster at ${cluster.address} (cluster.backend: ray)`);
  say(`chain ${net.chain.endpoint} · hub ${net.hub.url} · task center ${net.taskCenter.url}`);
  say(`miner hotkey ${net.minerWallet.hotkey.ss58} · validator hotkey ${net.validator.wallet.hotkey.ss58}`);
  const status = `http://127.0.0.1:${net.config.status.port}`;
  say(`dashboard ${status}/ · metrics ${status}/metrics`);
  const requests: TaskRequest[] = [];
  const stamp = Date.now().toString(36);
  for (const [i, kind] of kinds.entries()) {
    const served = await net.files.serve(
      kind === "text" ? `${tiny[i].dataset}/train.jsonl` : tiny[i].dataset,
    );
    const name = kinds.indexOf(kind) === kinds.lastIndexOf(kind) ? kind : `${kind}${i + 1}`;
    requests.push(tinyTaskRequest(kind, `local-${name}-${stamp}`, tiny[i].model, served));
  }

  const secrets = [net.hfToken, ...(cluster ? [cluster.token] : [])];
  await using _logging = await setupLogging(net.config.logging, secrets);
  const stop = Promise.withResolvers<void>();
  let allDone = false;
  const code = await runMiner(net.config, {
    stopRequested: stop.promise,
    stopDeadlineMs: 60_000,
    trainerEnv: { HF_HUB_OFFLINE: "1", TRANSFORMERS_OFFLINE: "1" },
    onStarted: (sup, parts) => {
      void waitForMetagraph(sup)
        .then(() => playValidator(net, requests))
        .then((ok) => ok && (!cluster || rayRuns(cluster, parts.store, requests)))
        .then((ok) => (allDone = ok), (e) => console.error(`local: ${(e as Error).message}`))
        .finally(() => stop.resolve());
    },
  });
  if (code !== 0) return code;
  if (!allDone) return 1;
  say(`miner log: ${net.config.logging.file}`);
  return 0;
}

/** The flags to run the same command again inside the Ray cluster's namespace. */
function localArgs(opts: LocalOptions): string[] {
  const config = opts.configPath
    ? ["--config", new URL(opts.configPath, `file://${Deno.cwd()}/`).pathname]
    : [];
  return ["local", "--ray", ...(opts.image ? ["--image"] : []), ...config];
}

async function rayRuns(cluster: LocalCluster, store: Store, requests: TaskRequest[]): Promise<boolean> {
  const tasks = await Promise.all(requests.map((r) => store.getTask(r.id)));
  return await reportRayRuns(cluster, tasks.filter((t): t is Task => t !== null), say);
}

/** A validator is known to the axon once the chain actor has synced the metagraph that lists it. */
async function waitForMetagraph(sup: Supervisor): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const chain = sup.child<ActorRef<ChainMsg>>("chain");
    const synced = chain ? await syncMetagraph(chain) : null;
    if (synced?.ok) return say(`metagraph synced at block ${synced.block}: ${synced.neurons} neurons`);
    // The chain actor connects in the background; until then a sync is refused as "disconnected".
    if (Date.now() > deadline) {
      throw new Error(`Cannot sync the metagraph: ${synced?.message ?? "no chain actor"}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

function say(line: string): void {
  console.log(`[local] ${line}`);
}

/**
 * Sends every task as a validator would, then follows them all to their end (so they may train at the
 * same time); true when every task is done.
 */
async function playValidator(net: LocalNetwork, requests: TaskRequest[]): Promise<boolean> {
  const { dendrite } = net.validator;
  let ok = true;
  const accepted: string[] = [];
  for (const request of requests) {
    const sent = await dendrite.call(net.axon, "TrainingTask", { task: request as unknown as PyValue });
    const reply = sent.synapse ?? {};
    if (sent.status !== 200 || reply.accepted !== true) {
      say(
        `task ${request.id} refused: ${sent.status} ${reply.reason ?? ""} ${
          reply.message ?? sent.message ?? ""
        }`,
      );
      ok = false;
      continue;
    }
    say(`task ${request.id} (${request.type} LoRA) accepted at queue position ${reply.queue_position}`);
    accepted.push(request.id);
  }
  const followed = await Promise.all(accepted.map((id) => follow(net, id)));
  return ok && followed.every(Boolean);
}

async function follow(net: LocalNetwork, taskId: string): Promise<boolean> {
  const deadline = Date.now() + TASK_TIMEOUT_MS;
  let last = "";
  while (Date.now() < deadline) {
    const r = await net.validator.dendrite.call(net.axon, "TaskStatus", { task_id: taskId });
    const s = r.synapse ?? {};
    const progress = typeof s.progress === "number" ? ` ${(s.progress * 100).toFixed(0)}%` : "";
    const line = `${s.state ?? `status ${r.status}`}${progress}`;
    if (line !== last) say(`task ${taskId}: ${line}${s.reason ? ` (${s.reason})` : ""}`);
    last = line;
    if (END_STATES.has(String(s.state))) return report(net, taskId, s);
    await new Promise((res) => setTimeout(res, 1_000));
  }
  say(`task ${taskId}: no end after ${TASK_TIMEOUT_MS / 60_000} minutes`);
  return false;
}

function report(net: LocalNetwork, taskId: string, status: Record<string, unknown>): boolean {
  if (status.state !== "done") return false;
  const repo = String(status.result_repo);
  const recorded = net.taskCenter.recorded.find((r) => r.task_id === taskId);
  say(`adapter uploaded to ${net.hub.url}/${repo} (local hub)`);
  say(`trainer output: ${net.config.miner.data_dir}/work/${taskId}/out`);
  if (recorded) say(`result recorded by the task center: ${JSON.stringify(recorded).slice(0, 300)}…`);
  return true;
}
