/**
 * `status`: is a miner running on this data dir, and what are its tasks doing. Reads the pid file
 * the running miner writes and the KV store (SQLite allows a second reader), so it needs no API.
 */
import type { MinerConfig } from "./config.ts";
import { pidFilePath, storePath } from "./paths.ts";
import { Store } from "./store.ts";
import type { TaskState } from "./task.ts";

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

export async function minerStatus(cfg: MinerConfig): Promise<string> {
  const pid = await runningPid(pidFile(cfg));
  const head = pid === null
    ? `satori-miner is not running (data dir "${cfg.miner.data_dir}")`
    : `satori-miner is running (pid ${pid}, data dir "${cfg.miner.data_dir}")`;
  try {
    await Deno.stat(storeOf(cfg));
  } catch {
    return `${head}\nno tasks yet`;
  }
  await using store = await Store.open(storeOf(cfg));
  const counts = new Map<TaskState, number>();
  for await (const t of store.tasks()) counts.set(t.state, (counts.get(t.state) ?? 0) + 1);
  const lines = [...counts].map(([state, n]) => `  ${state.padEnd(18)} ${n}`);
  return lines.length ? `${head}\ntasks:\n${lines.join("\n")}` : `${head}\nno tasks yet`;
}
