/**
 * The CLI's door to the config: load it, or print every located problem to stderr and exit 2.
 * A config mistake is the operator's to fix, so they get the lines to fix and no stack trace.
 */
import { type Env, loadConfig, type MinerConfig } from "./config.ts";
import { ConfigErrors } from "./errors.ts";

/** Exit status for an invalid config, distinct from 1 (a crash) so scripts can tell them apart. */
export const CONFIG_EXIT_CODE = 2;

/** Loads the config (explicit path, else MINER_CONFIG, else the default files); exits 2 if invalid. */
export async function loadConfigOrExit(env: Env, argvPath?: string): Promise<MinerConfig> {
  try {
    return await loadConfig(env, argvPath);
  } catch (e) {
    if (!(e instanceof ConfigErrors)) throw e;
    for (const err of e.errors) console.error(err.message);
    Deno.exit(CONFIG_EXIT_CODE);
  }
}
