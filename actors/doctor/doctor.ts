/**
 * `main.ts doctor`: every check an operator needs before mining, in the order they would fix them
 * (config, wallet, chain, port, task center, Hub, trainer venv and GPUs, disk), each a ✓ or a ✗ with its
 * fix (checks.ts), from probes that are each bounded in time (probes.ts). `preflight` is the subset that
 * costs nothing — no network, no Python — which `start` runs and refuses to start on.
 */
import type { MinerConfig } from "../../core/config.ts";
import { loadWallet, type Wallet } from "../../core/wallet.ts";
import { scanCache } from "../cache/cache_disk.ts";
import { rayClient } from "../ray/ray_client.ts";
import {
  axonCheck,
  type Check,
  clockCheck,
  diskCheck,
  endpointOf,
  modelCheck,
  parsePins,
  portCheck,
  registrationCheck,
  taskCenterCheck,
  tokenChecks,
  venvChecks,
} from "./checks.ts";
import {
  configuredModels,
  freeBytes,
  probeChain,
  probeModel,
  probePlan,
  probePort,
  probeTaskCenter,
  probeVenv,
  probeWhoami,
} from "./probes.ts";

export type DoctorOptions = {
  env: Record<string, string | undefined>;
  /** The repo root: where `trainer/` and its requirements.txt are. */
  trainerRoot: string;
  /** The pid of a miner running on this data dir, if any (its port is then taken, rightly). */
  runningPid?: number | null;
};

export async function runDoctor(cfg: MinerConfig, opts: DoctorOptions): Promise<Check[]> {
  const checks: Check[] = [{
    name: "config",
    ok: true,
    detail: cfg.runtime.configFile
      ? `"${cfg.runtime.configFile}" is valid`
      : "embedded defaults (no config file)",
  }];
  let wallet: Wallet | null = null;
  try {
    wallet = (await loadWallet({
      root: cfg.wallet.path,
      name: cfg.wallet.name,
      hotkey: cfg.wallet.hotkey,
      env: opts.env,
      passwordFile: cfg.wallet.password_file,
    })).wallet;
    checks.push({
      name: "wallet",
      ok: true,
      detail: `hotkey "${cfg.wallet.hotkey}" is ${wallet.hotkey.ss58}`,
    });
  } catch (e) {
    const message = (e as Error).message;
    checks.push({
      name: "wallet",
      ok: false,
      detail: message.split(";")[0],
      fix: message.split(";").slice(1).join(";").trim() || "see the message",
    });
  }
  if (wallet) checks.push(...await chainChecks(cfg, wallet));
  checks.push(portOf(cfg, opts.runningPid ?? null));
  if (cfg.cluster.backend === "ray") checks.push(...await rayChecks(cfg, opts.runningPid ?? null));
  if (wallet) checks.push(taskCenterCheck(cfg.task_center.url, await probeTaskCenter(cfg, wallet)));
  checks.push(...tokenChecks(cfg.huggingface.token, await probeWhoami(cfg)));
  const models = configuredModels(cfg);
  const [probes, plan] = await Promise.all([
    Promise.all(models.map((m) => probeModel(cfg, m))),
    probePlan(cfg, models, opts.trainerRoot),
  ]);
  // Sizes of what the prefetch fetches (not every file of the repo) when the venv could say.
  const sized = probes.map((p, i) => ({ ...p, bytes: plan.get(models[i])?.total ?? p.bytes }));
  checks.push(...models.map((m, i) => modelCheck(m, sized[i])));
  const pins = parsePins(
    await Deno.readTextFile(`${opts.trainerRoot}/trainer/requirements.txt`).catch(() => ""),
  );
  checks.push(
    ...venvChecks(cfg.training.python, await probeVenv(cfg.training.python, opts.trainerRoot), pins),
  );
  const onDisk = await scanCache(cfg.training.cache_dir);
  const cachedBytes = plan.size
    ? [...plan.values()].reduce((n, p) => n + p.cached, 0)
    : onDisk.filter((d) => models.includes(d.model)).reduce((n, d) => n + d.bytes, 0);
  checks.push(diskCheck({
    cacheDir: cfg.training.cache_dir,
    budgetBytes: cfg.training.cache_max_gb * 1e9,
    needBytes: sized.reduce((n, p) => n + (p.bytes ?? 0), 0),
    cachedBytes,
    freeBytes: (await freeBytes(cfg.training.cache_dir)) ?? 0,
  }));
  return checks;
}

async function chainChecks(cfg: MinerConfig, wallet: Wallet): Promise<Check[]> {
  const fix = "check bittensor.chain_endpoint and the network";
  try {
    const facts = await probeChain(cfg, wallet.hotkey.ss58);
    return [
      { name: "chain", ok: true, detail: `${cfg.bittensor.chain_endpoint} at block ${facts.block}` },
      registrationCheck(facts, {
        hotkey: wallet.hotkey.ss58,
        netuid: cfg.bittensor.netuid,
        wallet: cfg.wallet.name,
        hotkeyName: cfg.wallet.hotkey,
      }),
      axonCheck(endpointOf(facts.axon), facts.wanted),
      clockCheck(facts.seenMs - facts.blockTimeMs, facts.block),
    ];
  } catch (e) {
    return [{
      name: "chain",
      ok: false,
      detail: `cannot read ${cfg.bittensor.chain_endpoint}: ${(e as Error).message}`,
      fix,
    }];
  }
}

/** With `cluster.backend: ray`: the head answers with our token, has GPUs, and the files port is ours. */
export async function rayChecks(cfg: MinerConfig, runningPid: number | null): Promise<Check[]> {
  const { address, token, files } = cfg.cluster.ray;
  const checks: Check[] = [];
  try {
    const client = rayClient({ address, token: token ?? "", timeoutMs: 5_000 });
    const { rayVersion } = await client.version();
    const alive = (await client.nodes()).filter((n) => n.alive);
    const gpus = alive.reduce((n, node) => n + Math.floor(node.gpus), 0);
    checks.push(
      gpus > 0
        ? {
          name: "ray cluster",
          ok: true,
          detail: `Ray ${rayVersion} at ${address}: ${alive.length} nodes, ${gpus} GPUs`,
        }
        : {
          name: "ray cluster",
          ok: false,
          detail: `Ray ${rayVersion} at ${address} has no GPU on its ${alive.length} live nodes`,
          fix:
            "start a node on each GPU box: `ray start --address=HEAD:6379` (README: From one box to a cluster)",
        },
    );
  } catch (e) {
    checks.push({
      name: "ray cluster",
      ok: false,
      detail: (e as Error).message,
      fix:
        "check cluster.ray.address, and the token (cluster.ray.token or RAY_AUTH_TOKEN) the head was started with",
    });
  }
  const bound = probePort(files.listen, files.port);
  checks.push(
    portCheck(
      `${files.listen}:${files.port}`,
      bound !== "free" && runningPid !== null ? "miner" : bound,
      runningPid,
    ),
  );
  checks[checks.length - 1] = { ...checks[checks.length - 1], name: "ray files port" };
  return checks;
}

function portOf(cfg: MinerConfig, runningPid: number | null): Check {
  const addr = `${cfg.axon.ip}:${cfg.axon.port}`;
  if (!cfg.axon.enabled) {
    return { name: "axon port", ok: true, detail: "axon.enabled is false: nothing to bind" };
  }
  const bound = probePort(cfg.axon.ip, cfg.axon.port);
  return portCheck(addr, bound !== "free" && runningPid !== null ? "miner" : bound, runningPid);
}

/** The checks that cost nothing: the port, the trainer's Python, the data and cache folders writable. */
export async function preflight(cfg: MinerConfig): Promise<Check[]> {
  const checks: Check[] = [portOf(cfg, null)];
  const python = cfg.training.python;
  const found = await Deno.stat(python).then((s) => s.isFile, () => false);
  checks.push(
    found ? { name: "trainer venv", ok: true, detail: `${python} exists` } : {
      name: "trainer venv",
      ok: false,
      detail: `${python} does not exist`,
      fix: "`deno task setup` (creates .venv from trainer/requirements.txt), or set training.python",
    },
  );
  for (
    const [key, dir] of [["miner.data_dir", cfg.miner.data_dir], [
      "training.cache_dir",
      cfg.training.cache_dir,
    ]]
  ) {
    try {
      await Deno.mkdir(dir, { recursive: true });
      const probe = `${dir}/.write-test-${Deno.pid}`;
      await Deno.writeTextFile(probe, "");
      await Deno.remove(probe);
    } catch (e) {
      checks.push({
        name: key,
        ok: false,
        detail: `cannot write "${dir}": ${(e as Error).message}`,
        fix: `set ${key} to a writable folder`,
      });
    }
  }
  return checks;
}

export class PreflightError extends Error {
  override name = "PreflightError";
}

/** Throws PreflightError with doctor's lines for what blocks a start. */
export async function preflightOrThrow(cfg: MinerConfig): Promise<void> {
  const failed = (await preflight(cfg)).filter((c) => !c.ok);
  if (failed.length === 0) return;
  const lines = failed.flatMap((c) => [`✗ ${c.name}: ${c.detail}`, `    fix: ${c.fix}`]);
  throw new PreflightError(`preflight failed (\`deno task doctor\` runs every check):\n${lines.join("\n")}`);
}
