/**
 * The local network: everything a miner talks to, on 127.0.0.1, speaking the real wire protocols — a
 * Subtensor runtime (chopsticks on the raonet genesis), a HuggingFace-Hub-compatible server, a task
 * center, a static host for the validator's dataset — plus a validator (wallet + our dendrite) and a
 * miner wallet registered on netuid 1. `deno task local` drives one tiny task through it; the
 * end-to-end tests start the same network.
 */
import { stringify } from "yaml";
import { type MinerConfig, parseConfig } from "../core/config.ts";
import { TaskRequest } from "../core/task.ts";
import { loadWallet, type Wallet } from "../core/wallet.ts";
import { type AxonTarget, createDendrite, type Dendrite } from "./dendrite.ts";
import {
  type Chopsticks,
  connectApi,
  freePort,
  fundAlice,
  RAONET_GENESIS,
  registerHotkey,
  setValidators,
  startChopsticks,
} from "./chain_harness.ts";
import { type HubServer, startHubServer } from "./hub_server.ts";
import { makeLocalWallet } from "./wallets.ts";
import { TaskCenterServer } from "./task_center_server.ts";

export const NETUID = 1;
export const VALIDATOR_STAKE_TAO = 5_000n;
export const HF_USER = "satori-local";

export type LocalNetwork = AsyncDisposable & {
  runDir: string;
  chain: Chopsticks;
  hub: HubServer;
  hfToken: string;
  taskCenter: TaskCenterServer;
  files: { url: string; serve(path: string): Promise<{ url: string; sha256: string }> };
  minerWallet: Wallet;
  validator: { wallet: Wallet; dendrite: Dendrite };
  axon: AxonTarget;
  /** The miner's config file (already written to `<runDir>/config.yml`) and its parsed form. */
  configFile: string;
  config: MinerConfig;
};

/** Chain spec location: `../shared/chain/raonet.json` beside the repo, or `$SATORI_CHAIN_SPEC`. */
export function chainSpecPath(env: Record<string, string | undefined>): string {
  return env.SATORI_CHAIN_SPEC ?? RAONET_GENESIS;
}

/**
 * `baseModels`: local model folders (the tiny models) the miner's config allows validators to name.
 * `cluster`: a `cluster:` section for the config file (local/local_ray.ts) and its Ray token, which
 * reaches the parsed config the way an operator's does (RAY_AUTH_TOKEN), never the file.
 */
export async function startLocalNetwork(
  runDir: string,
  env: Record<string, string | undefined> = Deno.env.toObject(),
  opts: { baseModels?: readonly string[]; cluster?: { section: Record<string, unknown>; token: string } } =
    {},
): Promise<LocalNetwork> {
  await Deno.mkdir(runDir, { recursive: true });
  const cleanup: (() => Promise<void>)[] = [];
  try {
    const walletRoot = `${runDir}/wallets`;
    const [minerW, validatorW] = [
      await makeLocalWallet(walletRoot, "miner"),
      await makeLocalWallet(walletRoot, "validator"),
    ];
    const load = async (name: string) =>
      (await loadWallet({ root: walletRoot, name, hotkey: "default", env: {} })).wallet;
    const [minerWallet, validatorWallet] = [await load("miner"), await load("validator")];

    const chain = await startChopsticks({ genesis: chainSpecPath(env) });
    cleanup.push(() => chain.stop());
    const api = await connectApi(chain.endpoint);
    try {
      const alice = await fundAlice(chain);
      await registerHotkey(api, alice, NETUID, minerW.ss58);
      await registerHotkey(api, alice, NETUID, validatorW.ss58);
      const uids = await api.query.subtensorModule.subnetworkN(NETUID);
      const permits = Array.from({ length: Number(uids.toString()) }, () => true);
      await setValidators(
        chain,
        NETUID,
        [{ hotkey: validatorW.ss58, stakeTao: VALIDATOR_STAKE_TAO }],
        permits,
      );
    } finally {
      await api.disconnect();
    }

    const hfToken = `hf_local${crypto.randomUUID().replaceAll("-", "")}`;
    const hub = await startHubServer({ user: HF_USER, token: hfToken });
    cleanup.push(() => hub.close());
    const taskCenter = await TaskCenterServer.start({
      knownHotkeys: [minerW.ss58],
      defaultOutcome: { status: "validated", afterPolls: 1 },
    });
    cleanup.push(() => taskCenter.down());
    const files = await startFileHost(`${runDir}/served`);
    cleanup.push(() => files.close());

    const axonPort = freePort();
    const configFile = `${runDir}/config.yml`;
    const text = stringify({
      wallet: { name: "miner", hotkey: "default", path: walletRoot },
      bittensor: { netuid: NETUID, chain_endpoint: chain.endpoint, sync_interval_blocks: 5 },
      task_center: { url: taskCenter.url, poll_interval_s: 0.5 },
      miner: { min_stake: 1_000, max_queue_size: 10, data_dir: `${runDir}/data`, max_attempts: 2 },
      huggingface: { username: HF_USER, private: true, hub_url: hub.url },
      // The tiny models are local folders: allowed one by one, as an operator lists a model.
      training: { allowed_base_models: [...(opts.baseModels ?? [])] },
      // The dataset host is on loopback here; a real miner refuses such addresses.
      dataset: { allow_hosts: ["127.0.0.1"] },
      logging: { level: "info", file: `${runDir}/data/miner.log` },
      // The chain refuses loopback addresses in `serve_axon`; a documentation address (TEST-NET-3) shows
      // the announcement without pointing anyone anywhere. Our validator dials 127.0.0.1 directly.
      axon: { enabled: true, ip: "127.0.0.1", port: axonPort, external_ip: "203.0.113.10" },
      // A port of its own, so a local run never meets a real miner's dashboard on 8002.
      status: { host: "127.0.0.1", port: freePort() },
      ...(opts.cluster ? { cluster: opts.cluster.section } : {}),
    });
    await Deno.writeTextFile(configFile, `# written by the local network for this run\n${text}`);
    // The token reaches the miner the way an operator's does: through HF_TOKEN, not the file.
    const rayToken = opts.cluster ? { RAY_AUTH_TOKEN: opts.cluster.token } : {};
    const config = parseConfig(text, configFile, { HF_TOKEN: hfToken, HOME: env.HOME, ...rayToken });
    return {
      runDir,
      chain,
      hub,
      hfToken,
      taskCenter,
      files,
      minerWallet,
      validator: {
        wallet: validatorWallet,
        dendrite: createDendrite({ wallet: validatorWallet, ip: "127.0.0.1" }),
      },
      axon: { ip: "127.0.0.1", port: axonPort, hotkey: minerWallet.hotkey.ss58 },
      configFile,
      config,
      [Symbol.asyncDispose]: async () => {
        for (const c of cleanup.reverse()) await c().catch(() => {});
      },
    };
  } catch (e) {
    for (const c of cleanup.reverse()) await c().catch(() => {});
    throw e;
  }
}

/** A static HTTP host for datasets (what a validator would put on its own server or a CDN). */
async function startFileHost(dir: string) {
  await Deno.mkdir(dir, { recursive: true });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const name = decodeURIComponent(new URL(req.url).pathname.slice(1));
    if (name.includes("/") || name.startsWith(".")) return new Response("bad path", { status: 400 });
    try {
      return new Response(await Deno.readFile(`${dir}/${name}`));
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  const url = `http://127.0.0.1:${server.addr.port}`;
  return {
    url,
    /** Copies a file (or packs a folder as .tar.gz) under the host; returns its URL and sha256. */
    async serve(path: string): Promise<{ url: string; sha256: string }> {
      const stat = await Deno.stat(path);
      const base = path.split("/").filter(Boolean).at(-1)!;
      const name = stat.isDirectory ? `${base}.tar.gz` : base;
      if (stat.isDirectory) {
        // Name the entries (not "."): a "./" root entry is refused by the miner's unpacker, rightly.
        const entries = (await Array.fromAsync(Deno.readDir(path))).map((e) => e.name).sort();
        const tar = await new Deno.Command("tar", {
          args: ["-czf", `${dir}/${name}`, "-C", path, ...entries],
        })
          .output();
        if (!tar.success) throw new Error(`Cannot pack "${path}": ${new TextDecoder().decode(tar.stderr)}`);
      } else {
        await Deno.copyFile(path, `${dir}/${name}`);
      }
      const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(`${dir}/${name}`));
      const sha256 = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
      return { url: `${url}/${encodeURIComponent(name)}`, sha256 };
    },
    close: () => server.shutdown(),
  };
}

/** Builds the tiny model and toy dataset of `kind` with the trainer's own tool (CPU, seconds). */
export async function buildTiny(
  python: string,
  kind: "text" | "image",
  out: string,
): Promise<{ model: string; dataset: string }> {
  const res = await new Deno.Command(python, {
    args: ["-m", "trainer", "tiny", "--kind", kind, "--out", out],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (!res.success) {
    throw new Error(`Cannot build the tiny ${kind} model: ${dec.decode(res.stderr).slice(-800)}`);
  }
  return JSON.parse(dec.decode(res.stdout).trim().split("\n").at(-1)!);
}

/** A small task the tiny models learn in seconds on a CPU; shaped as a validator would send it. */
export function tinyTaskRequest(
  kind: "text" | "image",
  id: string,
  model: string,
  dataset: { url: string; sha256: string },
): TaskRequest {
  const source = { kind: "url" as const, url: dataset.url, sha256: dataset.sha256, max_bytes: 50_000_000 };
  const common = { id, priority: 0, deadline_ms: null, gpus: 1, dataset: source };
  if (kind === "text") {
    return TaskRequest.parse({
      ...common,
      type: "text",
      training: {
        base_model: model,
        hyperparameters: {
          max_steps: 30,
          learning_rate: 0.01,
          batch_size: 4,
          max_seq_length: 64,
          checkpoint_every: 10,
          target_modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        },
      },
    });
  }
  return TaskRequest.parse({
    ...common,
    type: "image",
    training: {
      base_model: model,
      hyperparameters: {
        max_steps: 8,
        learning_rate: 0.02,
        resolution: 32,
        checkpoint_every: 4,
        rank: 4,
        alpha: 4,
      },
      quality: { num_inference_steps: 2, prompts: ["a red square", "a blue box"], min_difference: 0.001 },
    },
  });
}
