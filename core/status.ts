/**
 * `status`: is a miner running on this data dir, and what is it doing. A running miner is asked
 * through its status server (`/api/status`, the dashboard's own view: progress, ETA, loss, GPUs,
 * queue); when none runs, or its server does not answer, the KV store (SQLite allows a second reader)
 * tells the tasks by state and what each unfinished one last wrote, and the output says so.
 */
import type { MinerConfig } from "./config.ts";
import { pidFilePath, storePath } from "./paths.ts";
import { StatusView } from "./status_view.ts";
import { renderLive, renderStored, type StoredTask } from "./status_text.ts";
import { Store } from "./store.ts";
import { type TaskState, TERMINAL_STATES } from "./task.ts";

/** The status server answers from memory; a miner that takes longer than this is reported as silent. */
const ASK_TIMEOUT_MS = 3_000;
/** Unfinished tasks listed from the store. */
const MAX_LISTED = 20;

const pidFile = (cfg: MinerConfig) => pidFilePath(cfg.miner.data_dir);
const storeOf = (cfg: MinerConfig) => storePath(cfg.miner.data_dir);

/** Records this process as the running miner; refuses when another live miner holds the data dir. */
export async function claimPidFile(cfg: MinerConfig): Promise<AsyncDisposable> {
  const path = pidFile(cfg);
  const other = await runningPid(path);
  if (other !== null && other !== Deno.pid) {
    throw new Deno.errors.AlreadyExists(
      `Cannot start: another miner (pid ${other}) is running on data dir "${cfg.miner.data_dir}"`,
    );
  }
  await Deno.mkdir(cfg.miner.data_dir, { recursive: true });
  await Deno.writeTextFile(path, `${Deno.pid}\n`);
  return { [Symbol.asyncDispose]: () => Deno.remove(path).catch(() => {}) };
}

/** The pid in the file if that process is alive, else null (a stale file after SIGKILL). */
async function runningPid(path: string): Promise<number | null> {
  const text = await Deno.readTextFile(path).catch(() => null);
  const pid = text === null ? NaN : Number.parseInt(text, 10);
  if (!Number.isInteger(pid)) return null;
  try {
    await Deno.stat(`/proc/${pid}`);
    return pid;
  } catch {
    return null;
  }
}

export type StatusOptions = { json?: boolean; fetch?: typeof fetch };

/** The `status` command's output: the live view when the miner's status server answers, else the store's. */
export async function minerStatus(cfg: MinerConfig, opts: StatusOptions = {}): Promise<string> {
  const pid = await runningPid(pidFile(cfg));
  const dir = `data dir "${cfg.miner.data_dir}"`;
  let silent: string | null = null;
  if (pid !== null && cfg.status.enabled) {
    const url = statusUrl(cfg);
    const live = await askStatusServer(cfg, url, opts.fetch ?? fetch);
    if (live.ok) {
      if (opts.json) {
        return JSON.stringify({ source: "status_server", running: true, pid, url, view: live.view });
      }
      return renderLive(live.view, `satori-miner is running (pid ${pid}, ${dir}): live from ${url}`);
    }
    silent = `its status server at ${url} did not answer (${live.why})`;
  }
  const stored = await readStore(cfg);
  const who = pid === null
    ? `satori-miner is not running (${dir})`
    : `satori-miner is running (pid ${pid}, ${dir}) but ${silent ?? "its status server is off"}`;
  if (opts.json) {
    return JSON.stringify({ source: "store", running: pid !== null, pid, note: who, ...stored });
  }
  return stored.tasks === null
    ? `${who}\nno tasks yet`
    : renderStored(`${who}: tasks as the store holds them`, stored.tasks, stored.unfinished);
}

/** Where `main.ts status` finds the server: a wildcard bind is reached on loopback. */
export function statusUrl(cfg: MinerConfig): string {
  const { host, port } = cfg.status;
  const reach = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  return `http://${reach.includes(":") ? `[${reach}]` : reach}:${port}/`;
}

type Asked = { ok: true; view: StatusView } | { ok: false; why: string };

async function askStatusServer(cfg: MinerConfig, url: string, fetchFn: typeof fetch): Promise<Asked> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (cfg.status.token) headers.authorization = `Bearer ${cfg.status.token}`;
  try {
    const res = await fetchFn(new URL("api/status", url), {
      headers,
      signal: AbortSignal.timeout(ASK_TIMEOUT_MS),
    });
    if (!res.ok) {
      await res.body?.cancel();
      return { ok: false, why: `HTTP ${res.status}${res.status === 401 ? ": check status.token" : ""}` };
    }
    const parsed = StatusView.safeParse(await res.json());
    return parsed.success
      ? { ok: true, view: parsed.data }
      : { ok: false, why: "an answer of another shape" };
  } catch (e) {
    return { ok: false, why: (e as Error).name === "TimeoutError" ? "timed out" : (e as Error).message };
  }
}

type Stored = { store: string; tasks: Partial<Record<TaskState, number>> | null; unfinished: StoredTask[] };

async function readStore(cfg: MinerConfig): Promise<Stored> {
  const path = storeOf(cfg);
  try {
    await Deno.stat(path);
  } catch {
    return { store: path, tasks: null, unfinished: [] };
  }
  await using store = await Store.open(path);
  const tasks: Partial<Record<TaskState, number>> = {};
  const unfinished: StoredTask[] = [];
  for await (const t of store.tasks()) {
    tasks[t.state] = (tasks[t.state] ?? 0) + 1;
    if (!TERMINAL_STATES.has(t.state) && unfinished.length < MAX_LISTED) {
      unfinished.push({ id: t.request.id, state: t.state, progress: t.progress, reason: t.reason });
    }
  }
  return { store: path, tasks, unfinished };
}
