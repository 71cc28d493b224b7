/**
 * AxonActor: the miner's door. Owns the HTTP server on `axon.ip:axon.port` (http_server.ts: deadlines
 * and a connection cap), the nonce stores (10.x synapses and btauth/1's replay ledger) and the
 * per-hotkey rate buckets (fresh on every restart), for both wire formats.
 * Requests do not pass through the mailbox: the handler (handler.ts) updates the state synchronously
 * between awaits, so the mailbox only takes `stats` and the actor's own prune tick. Sends nothing; it
 * calls the injected services (chain facts, queue, capacity). A failed bind crashes it; a graceful stop
 * closes the server after in-flight requests.
 */
import { assertNever } from "../../core/errors.ts";
import { actorLogger } from "../../core/logging.ts";
import { ConfigSchema, type MinerConfig } from "../../core/config.ts";
import type { AxonMsg, AxonStats } from "../protocol.ts";
import { type ActorContext, type ActorRef, type Clock, realClock, spawn } from "../runtime/actor.ts";
import { pruneNonces } from "./wire.ts";
import { pruneLedger } from "./btauth.ts";
import { DEFAULT_RATE_LIMIT, pruneBuckets, type RateLimit } from "./blacklist.ts";
import { type AxonHandlerDeps, type AxonState, createAxonHandler } from "./handler.ts";
import { priorityGate } from "./priority_gate.ts";
import { type AxonServer, type FrontLimits, serveAxon } from "./front.ts";
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
  /** Connection cap and read deadlines; defaults as config.example.yml's. */
  readonly limits?: Partial<FrontLimits>;
}

/** The server limits an `axon:` config section gives. */
function limitsOf(axon: MinerConfig["axon"]): FrontLimits {
  return {
    maxConnections: axon.max_connections,
    headerTimeoutMs: axon.header_timeout_s * 1000,
    bodyTimeoutMs: axon.body_timeout_s * 1000,
    idleTimeoutMs: axon.idle_timeout_s * 1000,
  };
}

/** The config file's defaults, for callers that pass no `limits` (tests, bench). */
const DEFAULT_LIMITS: FrontLimits = limitsOf(ConfigSchema.shape.axon.parse({}));

/** The options the config file gives. */
export function axonOptions(cfg: MinerConfig): AxonOptions {
  return {
    ip: cfg.axon.ip,
    port: cfg.axon.port,
    maxBodyBytes: cfg.axon.max_body_bytes,
    minStakeTao: cfg.miner.min_stake,
    limits: limitsOf(cfg.axon),
  };
}

export interface AxonDeps extends AxonServices {
  /** The miner's hotkey (a loaded `Wallet`). */
  readonly wallet: AxonHandlerDeps["signer"];
  readonly clock?: Clock;
  readonly onReply?: AxonHandlerDeps["onReply"];
}

type State = AxonState & { server: AxonServer; pruneTimer: unknown; rateLimit: RateLimit };
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
    openNonces: new Map(),
    buckets: new Map(),
    gate: priorityGate(opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT, clock),
    counts: new Map(),
    staleLookups: 0,
    aborted: 0,
    signatures: new Map(),
    ledger: new Map(),
  };
  const handler = createAxonHandler({
    lookup: deps.lookup,
    acceptTask: deps.acceptTask,
    taskStatus: deps.taskStatus,
    capacity: deps.capacity,
    cancelTask: deps.cancelTask,
    signer: deps.wallet,
    clock,
    rules: { minStakeTao: opts.minStakeTao, requirePermit: opts.requirePermit ?? true },
    rateLimit,
    maxBodyBytes: opts.maxBodyBytes,
    log,
    onReply: deps.onReply,
  }, axonState);
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const server = serveAxon({ hostname: opts.ip, port: opts.port, limits }, handler, log);
  log.info("Axon listening on {hostname}:{port}", server.addr);
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
    nonceKeys: state.nonces.size + state.openNonces.size + state.ledger.size,
    rateBuckets: state.buckets.size,
    staleLookups: state.staleLookups,
    connections: { ...state.server.counters, aborted: state.aborted },
  };
}

function prune(state: State, ctx: ActorContext<Msg>): void {
  const nowMs = ctx.clock.now();
  for (const nonces of [state.nonces, state.openNonces]) {
    const kept = pruneNonces(nonces, BigInt(Math.floor(nowMs)) * 1_000_000n);
    for (const key of nonces.keys()) if (!kept.has(key)) nonces.delete(key);
  }
  pruneBuckets(state.buckets, state.rateLimit, nowMs);
  pruneLedger(state.ledger, nowMs);
  state.signatures.clear();
  schedulePrune(state, ctx.clock, ctx);
}

function schedulePrune(state: State, clock: Clock, ctx: ActorContext<Msg>): void {
  state.pruneTimer = clock.setTimeout(() => ctx.self.offer({ type: "prune" }), PRUNE_EVERY_MS);
}
