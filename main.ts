/**
 * The CLI: argv → config → logging → the actor tree → wait for a signal or an escalation.
 * Exit codes: 0 clean stop, 1 a supervisor gave up (or a crash), 2 invalid config or usage.
 */
import { parseArgs } from "node:util";
import { getLogger } from "@logtape/logtape";
import { loadConfigOrExit } from "./core/cli_config.ts";
import { formatEffectiveConfig, type MinerConfig } from "./core/config.ts";
import { setupLogging } from "./core/logging.ts";
import { runMiner } from "./actors/tree.ts";
import { minerStatus } from "./core/status.ts";
import { doctor } from "./actors/doctor/doctor_cli.ts";

const LOCAL_RUN = new URL("./local/local_run.ts", import.meta.url);
type RunLocal = (
  env: Record<string, string | undefined>,
  opts: { image: boolean; ray: boolean; configPath?: string },
) => Promise<number>;

const USAGE = `satori-miner: the training node of the Satori network (Bittensor subnet 119)

Usage: deno task <start|local> | deno run -A main.ts <command> [options]

Commands:
  start          Run the miner (axon on axon.ip:axon.port, training on every visible GPU)
  local          Run the miner on embedded defaults against a local network and train a tiny task
  check-config   Validate the config and print the effective values (secrets masked)
  status         Show the running miner's tasks (progress, ETA, loss), GPUs and queue, from its status
                 server; when no miner runs, the tasks the store holds
  doctor         Check what mining needs (wallet, chain, axon, clock, task center, HF token and models,
                 trainer venv and GPUs, disk): one line each, ✓ or ✗ with its fix; exit 0 when all pass

Options:
  -c, --config PATH  Config file (default: $MINER_CONFIG, miner/config.yml, config.yml, or embedded defaults)
      --image        With local: send an image LoRA task too
      --ray          With local: train on a two-node Ray cluster (scripts/ray_cluster.sh; root, for its
                     network namespace) and send two text tasks, which train at the same time
      --json         With status: print JSON (the status server's view, or the store's counts)
  -h, --help         Show this help

Environment: MINER_CONFIG, HF_TOKEN / HUGGINGFACE_TOKEN, CUDA_VISIBLE_DEVICES, BT_WALLET_PATH
`;

/** Start-up failures that name what to fix; anything else is a bug and keeps its stack. */
const OPERATOR_ERRORS = new Set([
  "WalletError",
  "AlreadyExists",
  "ConfigError",
  "ChainError",
  "PreflightError",
  "StoreVersionError",
]);

/** Graceful stop must finish within this; a second signal or the deadline forces exit. */
export const STOP_DEADLINE_MS = 60_000;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: "string", short: "c" },
        image: { type: "boolean", default: false },
        ray: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const [command = "start", ...rest] = parsed.positionals;
  if (parsed.values.help || command === "help") {
    console.log(USAGE);
    return 0;
  }
  if (rest.length > 0) {
    console.error(`Unexpected argument "${rest[0]}"\n\n${USAGE}`);
    return 2;
  }
  const env = Deno.env.toObject();
  switch (command) {
    case "check-config": {
      const cfg = await loadConfigOrExit(env, parsed.values.config);
      console.log(formatEffectiveConfig(cfg));
      return 0;
    }
    case "status":
      console.log(
        await minerStatus(await loadConfigOrExit(env, parsed.values.config), { json: parsed.values.json }),
      );
      return 0;
    case "doctor":
      return await doctor(env, parsed.values.config);
    case "start":
      return await withLogging(
        await loadConfigOrExit(env, parsed.values.config),
        (cfg) => runUntilSignal(cfg),
      );
    case "local": {
      // A computed specifier: the module graph (and so `deno compile`) never includes the local network,
      // which runs from the source tree only.
      const { runLocal } = await import(LOCAL_RUN.href) as { runLocal: RunLocal };
      const { image, ray, config: configPath } = parsed.values;
      return await runLocal(env, { image, ray, configPath });
    }
    default:
      console.error(`Unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

async function withLogging(cfg: MinerConfig, run: (cfg: MinerConfig) => Promise<number>): Promise<number> {
  const secrets = [cfg.huggingface.token, cfg.status.token, cfg.cluster.ray.token].filter((s): s is string =>
    !!s
  );
  await using _logging = await setupLogging(cfg.logging, secrets);
  return await run(cfg);
}

/** Starts the tree and stops it on SIGINT/SIGTERM; an escalation ends it with exit code 1. */
async function runUntilSignal(cfg: MinerConfig): Promise<number> {
  const stopRequested = Promise.withResolvers<Deno.Signal>();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  let signalled = 0;
  const onSignal = (sig: Deno.Signal) => () => {
    if (++signalled > 1) {
      console.error(`Second ${sig}: exiting without a graceful stop`);
      Deno.exit(130);
    }
    stopRequested.resolve(sig);
  };
  const handlers = signals.map((s) => [s, onSignal(s)] as const);
  for (const [s, h] of handlers) Deno.addSignalListener(s, h);
  try {
    return await runMiner(cfg, { stopRequested: stopRequested.promise, stopDeadlineMs: STOP_DEADLINE_MS });
  } catch (e) {
    // An operator's mistake (no wallet, a second miner on the data dir) gets its message, not a stack.
    if (!(e instanceof Error) || !OPERATOR_ERRORS.has(e.name)) throw e;
    getLogger(["satori", "main"]).fatal("Cannot start the miner: {message}", { message: e.message });
    return 1;
  } finally {
    for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
