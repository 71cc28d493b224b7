/**
 * `doctor`'s verdicts: each check turns what a probe saw (probes.ts) into one line, ✓ or ✗, and for a ✗
 * the command or config key that fixes it. Pure, so each verdict is tested without a chain or a Hub.
 * `start` runs the checks that cost nothing (preflight.ts) and refuses on a ✗ with the same lines.
 */
import { formatEndpoint, type ServeDecision } from "../chain/axon_info.ts";

export type Check = { name: string; ok: boolean; detail: string; fix?: string };

const pass = (name: string, detail: string): Check => ({ name, ok: true, detail });
const fail = (name: string, detail: string, fix: string): Check => ({ name, ok: false, detail, fix });
const gb = (bytes: number) =>
  bytes < 1e9 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e9).toFixed(1)} GB`;

/** One line per check; a ✗ line is followed by its fix. Exit 0 only when every check passed. */
export function formatReport(checks: readonly Check[]): string {
  const lines = checks.flatMap((c) =>
    c.ok ? [`✓ ${c.name}: ${c.detail}`] : [`✗ ${c.name}: ${c.detail}`, `    fix: ${c.fix}`]
  );
  const failed = checks.filter((c) => !c.ok).length;
  lines.push(
    failed ? `${failed} of ${checks.length} checks failed: the miner would not mine` : "ready to mine",
  );
  return lines.join("\n");
}

export function registrationCheck(
  r: { uid: number | null; subnetExists: boolean; stakeTao: number | null },
  who: { hotkey: string; netuid: number; wallet: string; hotkeyName: string },
): Check {
  const name = "registration";
  const register = `btcli subnet register --netuid ${who.netuid} --wallet.name ${who.wallet} ` +
    `--wallet.hotkey ${who.hotkeyName}`;
  if (!r.subnetExists) {
    return fail(
      name,
      `netuid ${who.netuid} does not exist on this chain`,
      "set bittensor.netuid (119 is Satori)",
    );
  }
  if (r.uid === null) {
    return fail(name, `hotkey ${who.hotkey} is not registered on netuid ${who.netuid}`, register);
  }
  const stake = r.stakeTao === null ? "stake unknown" : `stake ${r.stakeTao.toFixed(3)} TAO`;
  return pass(name, `hotkey ${who.hotkey} is uid ${r.uid} on netuid ${who.netuid} (${stake})`);
}

/** The chain's axon entry against what the config would serve, with the rate limit's word on when. */
export function axonCheck(
  onChain: string | null,
  wanted: { ok: true; endpoint: string; decision: ServeDecision } | { ok: false; reason: string },
): Check {
  const name = "axon on chain";
  if (!wanted.ok) return fail(name, wanted.reason, "set axon.external_ip to this machine's public IP");
  const { endpoint, decision } = wanted;
  const when = decision.action === "wait"
    ? `at block ${decision.untilBlock} (ServingRateLimit)`
    : "as soon as it starts";
  if (decision.action === "unchanged") return pass(name, `${endpoint} is served`);
  if (onChain === null) return pass(name, `nothing served yet: the miner serves ${endpoint} ${when}`);
  return fail(
    name,
    `the chain has ${onChain} for this hotkey, the config says ${endpoint}`,
    `\`deno task start\` serves ${endpoint} ${when}; if ${onChain} is right, set axon.external_ip / axon.port`,
  );
}

export function endpointOf(axon: { ip: bigint; ipType: number; port: number } | null): string | null {
  return axon === null || axon.ip === 0n ? null : formatEndpoint(axon.ip, axon.ipType, axon.port);
}

/**
 * The local clock against the latest block's `Timestamp.Now` (built up to one 12 s slot ago): a block
 * stamped in our future means the clock is behind; one older than a few slots means it is ahead, or the
 * node is stuck, which the line says.
 */
export function clockCheck(offsetMs: number, block: number, toleranceMs = 1_000, staleMs = 60_000): Check {
  const name = "clock";
  const s = (ms: number) => `${(Math.abs(ms) / 1000).toFixed(1)} s`;
  const fix = "synchronise the clock: `timedatectl set-ntp true` (or chrony); btauth/1 allows 2 s of skew";
  if (offsetMs < -toleranceMs) {
    return fail(name, `local clock is at least ${s(offsetMs)} behind the chain (block ${block})`, fix);
  }
  if (offsetMs > staleMs) {
    return fail(
      name,
      `block ${block} is ${s(offsetMs)} old by the local clock: it runs ahead, or the node is stuck`,
      fix,
    );
  }
  return pass(name, `within ${s(toleranceMs)} of block ${block}'s timestamp (${s(offsetMs)} since it)`);
}

export type TaskCenterProbe = { kind: "answered"; status: number } | { kind: "network"; message: string };

export function taskCenterCheck(url: string, probe: TaskCenterProbe): Check {
  const name = "task center";
  if (probe.kind === "network") {
    return fail(name, `${url} does not answer: ${probe.message}`, "check task_center.url and the network");
  }
  if (probe.status === 401 || probe.status === 403) {
    return fail(
      name,
      `${url} refuses this hotkey's signature (${probe.status})`,
      "ask the subnet to list your hotkey",
    );
  }
  if (probe.status >= 500) {
    return fail(name, `${url} answers ${probe.status}`, "retry later; the task center is down");
  }
  return pass(name, `${url} answers signed requests`);
}

export type Whoami = { user: string; role: string; fineGrainedWrite: boolean } | {
  error: string;
  status: number;
};

export function tokenChecks(token: string | null, who: Whoami | null): Check[] {
  const fix = "create a token with the write role at https://huggingface.co/settings/tokens and set HF_TOKEN";
  if (token === null) return [fail("HF token", "no token: uploads need one", fix)];
  if (who === null || "error" in who) {
    const why = who === null ? "the Hub does not answer" : `whoami answered ${who.status}: ${who.error}`;
    return [fail("HF token", `the token is not valid (${why})`, fix)];
  }
  const valid = pass("HF token", `valid, for user "${who.user}"`);
  if (who.role === "write" || who.role === "admin" || (who.role === "fineGrained" && who.fineGrainedWrite)) {
    return [valid, pass("HF write access", `role "${who.role}": uploads can create repos`)];
  }
  return [valid, fail("HF write access", `the token's role is "${who.role}": uploads would be refused`, fix)];
}

export type ModelProbe = { status: number; gated: boolean; bytes: number | null };

export function modelCheck(model: string, probe: ModelProbe): Check {
  const name = `base model ${model}`;
  if (probe.status === 200) {
    return pass(name, `readable${probe.bytes === null ? "" : ` (${gb(probe.bytes)})`}`);
  }
  if (probe.gated || probe.status === 403) {
    return fail(
      name,
      `gated: the Hub refuses its files (${probe.status}) until the license is accepted`,
      `accept the license at https://huggingface.co/${model} with the token's account`,
    );
  }
  return fail(
    name,
    `the Hub answers ${probe.status}`,
    "check training.*.base_model / training.allowed_base_models and the token",
  );
}

export type EnvReport = {
  python: string;
  libraries: Record<string, { version: string | null; error: string | null }>;
  cuda_build: string | null;
  cuda_available: boolean;
  gpus: { index: number; name: string; memory_mb: number; capability: string; bf16: boolean }[];
};

/** The venv against trainer/requirements.txt's pins (a `+cu128` build suffix is the same version). */
export function venvChecks(
  python: string,
  report: EnvReport | { error: string },
  pins: Map<string, string>,
): Check[] {
  const fix = "`deno task setup` (creates .venv from trainer/requirements.txt), or set training.python";
  if ("error" in report) {
    return [fail("trainer venv", `${python} cannot run the trainer: ${report.error}`, fix)];
  }
  const wrong = Object.entries(report.libraries).flatMap(([lib, v]) => {
    const pin = pins.get(lib.replaceAll("_", "-"));
    if (pin === undefined) return [];
    if (v.version === null) return [`${lib} does not import (${v.error})`];
    return v.version.split("+")[0] === pin ? [] : [`${lib} ${v.version} (pinned ${pin})`];
  });
  const versions = ["torch", "transformers", "peft", "diffusers"]
    .map((l) => `${l} ${report.libraries[l]?.version ?? "?"}`).join(", ");
  const venv = wrong.length
    ? fail("trainer venv", wrong.join("; "), fix)
    : pass("trainer venv", `${python}: ${versions}`);
  return [venv, gpuCheck(report)];
}

/** FLUX LoRA modes by card memory (actors/queue/placement.ts's estimate at 512 px, batch 1). */
export function imageMode(memoryMb: number, hasBitsandbytes: boolean): string {
  if (memoryMb >= 40_000) return "bf16";
  if (memoryMb >= 22_000) return hasBitsandbytes ? "fp8 or nf4" : "fp8 (nf4 needs bitsandbytes)";
  return "none (under 24 GB)";
}

function gpuCheck(r: EnvReport): Check {
  if (!r.cuda_available || r.gpus.length === 0) {
    return pass(
      "GPUs",
      `none visible to torch (CUDA build ${r.cuda_build ?? "none"}): training runs on the CPU`,
    );
  }
  const bnb = r.libraries.bitsandbytes?.version != null;
  const cards = r.gpus.map((g) =>
    `${g.index}: ${g.name}, ${(g.memory_mb / 1024).toFixed(0)} GiB, sm_${g.capability.replace(".", "")}, ` +
    `image mode ${imageMode(g.memory_mb, bnb)}`
  );
  return pass("GPUs", `CUDA ${r.cuda_build}; ${cards.join("; ")}`);
}

/**
 * The cache's needs: the configured base models (sizes from the Hub) must fit in `training.cache_max_gb`,
 * and what is not yet cached must fit on the disk.
 */
export function diskCheck(
  d: { cacheDir: string; budgetBytes: number; needBytes: number; cachedBytes: number; freeBytes: number },
): Check {
  const name = "disk";
  const toFetch = Math.max(0, d.needBytes - d.cachedBytes);
  if (d.needBytes > d.budgetBytes) {
    return fail(
      name,
      `the configured base models take ${gb(d.needBytes)}, more than training.cache_max_gb (${
        gb(d.budgetBytes)
      })`,
      `raise training.cache_max_gb to at least ${Math.ceil(d.needBytes / 1e9)}`,
    );
  }
  if (toFetch > d.freeBytes) {
    return fail(
      name,
      `${gb(toFetch)} of base models still to fetch into "${d.cacheDir}", ${gb(d.freeBytes)} free`,
      `free ${gb(toFetch - d.freeBytes)} on that disk, or point training.cache_dir at a larger one`,
    );
  }
  return pass(
    name,
    `${gb(d.freeBytes)} free for "${d.cacheDir}"; base models need ${gb(d.needBytes)} ` +
      `(${gb(d.cachedBytes)} cached), budget ${gb(d.budgetBytes)}`,
  );
}

export function portCheck(
  addr: string,
  bound: "free" | "miner" | { error: string },
  pid?: number | null,
): Check {
  const name = "axon port";
  if (bound === "free") return pass(name, `${addr} can be bound`);
  if (bound === "miner") return pass(name, `${addr} is held by the running miner (pid ${pid})`);
  return fail(name, `cannot bind ${addr}: ${bound.error}`, "stop what holds it, or set axon.port / axon.ip");
}

/** Pins of a requirements file: `name==version` lines, names lower-cased with `-`. */
export function parsePins(text: string): Map<string, string> {
  const pins = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = line.trim().match(/^([A-Za-z0-9_.-]+)==([^\s#;]+)/);
    if (m) pins.set(m[1].toLowerCase().replaceAll("_", "-"), m[2]);
  }
  return pins;
}
