/**
 * `main.ts doctor`: loads the config (a broken one is the first ✗), runs every check and prints the
 * report. Exit 0 when every check passed, 1 when one failed, 2 when the config itself is invalid.
 */
import { type Env, loadConfig } from "../../core/config.ts";
import { ConfigErrors } from "../../core/errors.ts";
import { pidFilePath } from "../../core/paths.ts";
import { formatReport } from "./checks.ts";
import { runDoctor } from "./doctor.ts";

const TRAINER_ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

export async function doctor(env: Env, configPath?: string): Promise<number> {
  let cfg;
  try {
    cfg = await loadConfig(env, configPath);
  } catch (e) {
    if (!(e instanceof ConfigErrors)) throw e;
    console.log(`✗ config: ${e.errors.length} problem(s)`);
    for (const err of e.errors) console.log(`    ${err.message}`);
    console.log("    fix: edit the file at the lines above (every key is in config.example.yml)");
    return 2;
  }
  const checks = await runDoctor(cfg, {
    env,
    trainerRoot: TRAINER_ROOT,
    runningPid: await livePid(cfg.miner.data_dir),
  });
  console.log(formatReport(checks));
  return checks.every((c) => c.ok) ? 0 : 1;
}

/** The running miner's pid from its pid file, when that process is alive. */
async function livePid(dataDir: string): Promise<number | null> {
  const pid = Number.parseInt(await Deno.readTextFile(pidFilePath(dataDir)).catch(() => ""), 10);
  if (!Number.isInteger(pid)) return null;
  return await Deno.stat(`/proc/${pid}`).then(() => pid, () => null);
}
