/**
 * AxonActor: the miner's door. Owns the HTTP server on `axon.ip:axon.port`, the nonce store and the
 * per-hotkey rate buckets (fresh on every restart). Requests do not pass through the mailbox: the
 * handler (handler.ts) updates the state synchronously between awaits, so the mailbox only takes
 * `stats` and the actor's own prune tick. Sends nothing; it calls the injected services (chain facts,
 * queue, capacity). A failed bind crashes it; a graceful stop closes the server after in-flight requests.
 */
import { assertNever } from "../../core/errors.ts";
import { actorLogger } from "../../core/logging.ts";
import type { MinerConfig } from "../../core/config.ts";
import type { AxonMsg, AxonStats } from "../protocol.ts";
import { type ActorContext, type ActorRef, type Clock, realClock, spawn } from "../runtime/actor.ts";
import { pruneNonces } from "./wire.ts";
import { DEFAULT_RATE_LIMIT, pruneBuckets, type RateLimit } from "./blacklist.ts";
import { type AxonHandlerDeps, type AxonState, createAxonHandler } from "./handler.ts";
import { priorityGate } from "./priority_gate.ts";
import type { AxonServices } from "./synapse_handlers.ts";

export type { AxonServices, CapacitySnapshot } from "./synapse_handlers.ts";

const log = actorLogger("axon");
const PRUNE_EVERY_MS = 60_000;
const DEFAULT_MAX_IN_FLIGHT = 64;

export interface AxonOptions {
  readonly ip: string;
  /** 0 picks a free port (tests); `axonStats` tells which. */
  readonly port: number;
  readonly maxBodyBytes: number;
  /** `miner.min_stake`, in TAO. */
  readonly minStakeTao: number;
  readonly requirePermit?: boolean;
  readonly rateLimit?: RateLimit;
  /** Synapse handlers running at once; the rest wait by stake (priority), up to their timeout. */
  readonly maxInFlight?: number;
}

/** The options the config file gives. */
export function axonOptions(cfg: MinerConfig): AxonOptions {
  return {
    ip: cfg.axon.ip,
    port: cfg.axon.port,
    maxBodyBytes: cfg.axon.max_body_bytes,
    minStakeTao: cfg.miner.min_stake,
  };
}

export interface AxonDeps extends AxonServices {
  /** The miner's hotkey (a loaded `Wallet`). */
  readonly wallet: AxonHandlerDeps["signer"];
  readonly clock?: Clock;
}

type State = AxonState & { server: Deno.HttpServer<Deno.NetAddr>; pruneTimer: unknown; rateLimit: RateLimit };
type Private = { type: "prune" };
type Msg = AxonMsg | Private;

export function startAxonActor(opts: AxonOptions, deps: AxonDeps): ActorRef<AxonMsg> {
  const clock = deps.clock ?? realClock;
  return spawn<Msg, State>({
    name: "axon",
    clock,
    stopTimeoutMs: 2_000,
    init: (ctx) => init(opts, deps, clock, ctx),
    handle: (state, msg, ctx) => handle(state, msg, ctx),
    onStop: async (state) => {
      clock.clearTimeout(state.pruneTimer);
      await state.server.shutdown();
    },
  });
}

function init(opts: AxonOptions, deps: AxonDeps, clock: Clock, ctx: ActorContext<Msg>): State {
  const rateLimit = opts.rateLimit ?? DEFAULT_RATE_LIMIT;
  const axonState: AxonState = {
    uuid: crypto.randomUUID(),
    nonces: new Map(),
    buckets: new Map(),
    gate: priorityGate(opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT, clock),
    counts: new Map(),
    staleLookups: 0,
    signatures: new Map(),
  };
  const handler = createAxonHandler({
    lookup: deps.lookup,
    acceptTask: deps.acceptTask,
    taskStatus: deps.taskStatus,
    capacity: deps.capacity,
    signer: deps.wallet,
    clock,
    rules: { minStakeTao: opts.minStakeTao, requirePermit: opts.requirePermit ?? true },
    rateLimit,
    maxBodyBytes: opts.maxBodyBytes,
    log,
  }, axonState);
  const server = Deno.serve({
    hostname: opts.ip,
    port: opts.port,
    onListen: ({ hostname, port }) => log.info("Axon listening on {hostname}:{port}", { hostname, port }),
    onError: (error) => {
      // The handler answers every failure itself; this is Deno's last resort, still JSON.
      log.error("Axon server error: {error}", { error });
      return Response.json({ message: "Internal Server Error" }, { status: 500 });
    },
  }, handler);
  // The handler holds `axonState`'s maps and gate: the actor's state shares them, never copies.
  const state: State = Object.assign(axonState, { server, pruneTimer: undefined as unknown, rateLimit });
  schedulePrune(state, clock, ctx);
  return state;
}

function handle(state: State, msg: Msg, ctx: ActorContext<Msg>): void {
  switch (msg.type) {
    case "stats":
      return msg.reply(stats(state));
    case "prune":
      return prune(state, ctx);
    default:
      assertNever(msg);
  }
}

function stats(state: State): AxonStats {
  const { hostname, port } = state.server.addr;
  return {
    address: { hostname, port },
    replies: Object.fromEntries([...state.counts].map(([k, v]) => [String(k), v])),
    inFlight: state.gate.inFlight,
    waiting: state.gate.waiting,
    nonceKeys: state.nonces.size,
    rateBuckets: state.buckets.size,
    staleLookups: state.staleLookups,
  };
}

function prune(state: State, ctx: ActorContext<Msg>): void {
  const nowMs = ctx.clock.now();
  const kept = pruneNonces(state.nonces, BigInt(Math.floor(nowMs)) * 1_000_000n);
  for (const key of state.nonces.keys()) if (!kept.has(key)) state.nonces.delete(key);
  pruneBuckets(state.buckets, state.rateLimit, nowMs);
  state.signatures.clear();
  schedulePrune(state, ctx.clock, ctx);
}

function schedulePrune(state: State, clock: Clock, ctx: ActorContext<Msg>): void {
  state.pruneTimer = clock.setTimeout(() => ctx.self.offer({ type: "prune" }), PRUNE_EVERY_MS);
}
