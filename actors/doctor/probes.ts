/**
 * `doctor`'s probes: each asks one outside thing what checks.ts judges — the chain (registration, stake,
 * axon entry, the latest block's time), the axon port, the task center, the Hub (whoami, each base
 * model's info and a file's HEAD), the trainer venv (`python -m trainer envcheck`) and the disk. Each is
 * bounded in time and reports instead of throwing, so one unreachable service fails one line only.
 */
import { z } from "zod";
import type { MinerConfig } from "../../core/config.ts";
import { isHubModel, PrefetchEvent } from "../../core/model_cache.ts";
import type { Wallet } from "../../core/wallet.ts";
import { type AxonInfo, decideServe, formatEndpoint, SDK_VERSION, wantedAxon } from "../chain/axon_info.ts";
import {
  closeApi,
  openApi,
  readAxonState,
  readBlockTimestamp,
  readMetagraph,
  readRegistration,
} from "../chain/chain_client.ts";
import { buildSnapshot, lookup } from "../chain/metagraph.ts";
import { detectFeatures } from "../chain/runtime_types.ts";
import { taskCenter } from "../task_center/task_center_client.ts";
import type { EnvReport, ModelProbe, TaskCenterProbe, Whoami } from "./checks.ts";

const TIMEOUT_MS = 15_000;

export type ChainFacts = {
  uid: number | null;
  subnetExists: boolean;
  stakeTao: number | null;
  axon: AxonInfo | null;
  wanted: { ok: true; endpoint: string; decision: ReturnType<typeof decideServe> } | {
    ok: false;
    reason: string;
  };
  block: number;
  blockTimeMs: number;
  seenMs: number;
};

export async function probeChain(cfg: MinerConfig, hotkey: string): Promise<ChainFacts> {
  const api = await openApi(cfg.bittensor.chain_endpoint, TIMEOUT_MS, TIMEOUT_MS);
  try {
    const netuid = cfg.bittensor.netuid;
    const reg = await readRegistration(api, netuid, hotkey);
    const axon = await readAxonState(api, netuid, hotkey);
    const header = await api.rpc.chain.getHeader();
    const blockTimeMs = await readBlockTimestamp(api, header.hash.toHex());
    const seenMs = Date.now();
    let stakeTao: number | null = null;
    if (reg.uid !== null) {
      const meta = await readMetagraph(api, netuid, detectFeatures(api.runtimeMetadata)).catch(() => null);
      if (meta) {
        stakeTao = lookup(buildSnapshot(netuid, meta.columns, meta.block, seenMs, meta.source), hotkey, false)
          .stakeTao;
      }
    }
    const want = wantedAxon(cfg.axon, SDK_VERSION);
    const wanted = want.ok
      ? {
        ok: true as const,
        endpoint: formatEndpoint(want.params.ip, want.params.ipType, want.params.port),
        decision: decideServe(axon.axon, want.params, axon.block, axon.rateLimit),
      }
      : want;
    return {
      ...reg,
      stakeTao,
      axon: axon.axon,
      wanted,
      block: header.number.toNumber(),
      blockTimeMs,
      seenMs,
    };
  } finally {
    await closeApi(api);
  }
}

/** Binds the axon's address for a moment: "free", or why not. */
export function probePort(ip: string, port: number): "free" | { error: string } {
  try {
    Deno.listen({ hostname: ip === "localhost" ? "127.0.0.1" : ip, port }).close();
    return "free";
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** A signed GET of a task id nobody uses: any answer but a refused signature shows the way works. */
export async function probeTaskCenter(cfg: MinerConfig, wallet: Wallet): Promise<TaskCenterProbe> {
  const client = taskCenter({ baseUrl: cfg.task_center.url, signer: wallet, timeoutMs: TIMEOUT_MS });
  const res = await client.call("GET", `/v1/tasks/doctor-${crypto.randomUUID()}`, undefined, z.unknown());
  if (res.ok) return { kind: "answered", status: 200 };
  return res.kind === "http"
    ? { kind: "answered", status: res.status }
    : { kind: "network", message: res.message };
}

async function hubGet(cfg: MinerConfig, path: string, method = "GET"): Promise<Response | null> {
  const token = cfg.huggingface.token;
  try {
    return await fetch(`${cfg.huggingface.hub_url.replace(/\/+$/, "")}${path}`, {
      method,
      headers: token ? { Authorization: `Bearer ${token}` } : {},
      redirect: "manual",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch {
    return null;
  }
}

export async function probeWhoami(cfg: MinerConfig): Promise<Whoami | null> {
  if (!cfg.huggingface.token) return null;
  const res = await hubGet(cfg, "/api/whoami-v2");
  if (res === null) return null;
  const body = await res.json().catch(() => ({}));
  if (!res.ok) return { status: res.status, error: String(body?.error ?? res.statusText) };
  const token = body?.auth?.accessToken ?? {};
  const scoped: { permissions?: string[] }[] = token.fineGrained?.scoped ?? [];
  const fineGrainedWrite = scoped.some((s) => s.permissions?.includes("repo.write"));
  return { user: String(body.name), role: String(token.role ?? "unknown"), fineGrainedWrite };
}

/** Model info with sizes, then a HEAD of one file: a gated repo shows its info but refuses its files. */
export async function probeModel(cfg: MinerConfig, model: string): Promise<ModelProbe> {
  const info = await hubGet(cfg, `/api/models/${model}/revision/main?blobs=true`);
  if (info === null) return { status: 0, gated: false, bytes: null };
  if (!info.ok) return { status: info.status, gated: false, bytes: null };
  const body = await info.json();
  const siblings: { rfilename: string; size?: number }[] = body.siblings ?? [];
  const bytes = siblings.reduce((n, s) => n + (s.size ?? 0), 0);
  const file = siblings.find((s) => /(^|\/)(config|model_index)\.json$/.test(s.rfilename)) ?? siblings[0];
  if (!file) return { status: 200, gated: !!body.gated, bytes };
  const head = await hubGet(cfg, `/${model}/resolve/main/${file.rfilename}`, "HEAD");
  const status = head === null ? 0 : head.status >= 300 && head.status < 400 ? 200 : head.status;
  return { status, gated: status !== 200 && !!body.gated, bytes };
}

export function configuredModels(cfg: MinerConfig): string[] {
  const all = [
    cfg.training.text.base_model,
    cfg.training.image.base_model,
    ...cfg.training.allowed_base_models,
  ];
  return [...new Set(all)].filter(isHubModel);
}

export async function probeVenv(python: string, trainerRoot: string): Promise<EnvReport | { error: string }> {
  try {
    const out = await new Deno.Command(python, {
      args: ["-m", "trainer", "envcheck"],
      cwd: trainerRoot,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(120_000),
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    if (!out.success) {
      return { error: new TextDecoder().decode(out.stderr).trim().split("\n").at(-1) ?? "failed" };
    }
    return JSON.parse(text.split("\n").at(-1)!) as EnvReport;
  } catch (e) {
    return { error: e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message };
  }
}

/**
 * What the prefetch would fetch of each model (`python -m trainer prefetch --plan`: the files
 * `from_pretrained` reads, not every file of the repo) and how much of it is cached; an empty map when
 * the venv cannot run it (the venv check says why).
 */
export async function probePlan(
  cfg: MinerConfig,
  models: string[],
  trainerRoot: string,
): Promise<Map<string, { total: number; cached: number }>> {
  const plan = new Map<string, { total: number; cached: number }>();
  if (models.length === 0) return plan;
  let out: Deno.CommandOutput | null = null;
  try {
    out = await new Deno.Command(cfg.training.python, {
      args: [
        ...["-m", "trainer", "prefetch", "--plan", "--cache-dir", cfg.training.cache_dir],
        ...models.flatMap((m) => ["--model", m]),
        ...["--endpoint", cfg.huggingface.hub_url],
      ],
      cwd: trainerRoot,
      env: cfg.huggingface.token ? { HF_TOKEN: cfg.huggingface.token } : {},
      stdout: "piped",
      stderr: "null",
      signal: AbortSignal.timeout(120_000),
    }).output();
  } catch { /* no such python: the venv check says so */ }
  for (const line of new TextDecoder().decode(out?.stdout ?? new Uint8Array()).split("\n")) {
    let raw: unknown = null;
    try {
      raw = JSON.parse(line);
    } catch { /* not an event line */ }
    const e = PrefetchEvent.safeParse(raw);
    if (e.success && e.data.event === "prefetch_start") {
      plan.set(e.data.model, { total: e.data.total_bytes, cached: e.data.cached_bytes });
    }
  }
  return plan;
}

/** Free bytes on the filesystem that holds `path` (or its nearest existing parent), by `df`. */
export async function freeBytes(path: string): Promise<number | null> {
  let at = path;
  while (!(await Deno.stat(at).then(() => true, () => false))) {
    at = at.includes("/") ? at.slice(0, at.lastIndexOf("/")) || "/" : ".";
  }
  const out = await new Deno.Command("df", { args: ["-Pk", at], stdout: "piped", stderr: "null" }).output()
    .catch(() => null);
  const line = out?.success ? new TextDecoder().decode(out.stdout).trim().split("\n")[1] : undefined;
  const avail = Number(line?.split(/\s+/)[3]);
  return Number.isFinite(avail) ? avail * 1024 : null;
}
