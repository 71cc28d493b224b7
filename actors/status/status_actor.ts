/**
 * StatusActor: the operator's window. Owns the status server on `status.host:status.port` (dashboard,
 * SSE, JSON, /metrics), the GPU poll timer and the live streams. Requests do not pass through the
 * mailbox: they read one cached view, sampled from the actors at most once a second whoever asks,
 * with every ask bounded by a short timeout, so no number of readers adds load to the queue, the
 * chain or the axon. The mailbox takes `address` and its own ticks (poll the GPUs, push the view to
 * open streams, bind again). A port in use is logged and retried, never a crash: the window must not
 * take the miner down. It reads the Telemetry the tree's hooks feed; it sends nothing to anyone.
 */
import denoJson from "../../deno.json" with { type: "json" };
import { assertNever } from "../../core/errors.ts";
import { actorLogger, type RecentLogLine } from "../../core/logging.ts";
import type { Device } from "../../core/device.ts";
import type { StatusView } from "../../core/status_view.ts";
import type {
  AxonStats,
  ChainStatus,
  HotkeyFacts,
  QueueSnapshot,
  StatusAddress,
  StatusMsg,
} from "../protocol.ts";
import { type ActorContext, type ActorRef, type Clock, realClock, spawn } from "../runtime/actor.ts";
import { StatusAuth } from "./auth.ts";
import { type GpuPoll, pollGpus } from "./gpu_poll.ts";
import { createStatusHandler } from "./server.ts";
import { SseHub } from "./sse.ts";
import type { Telemetry } from "./telemetry.ts";
import { buildView, type Identity, type Sample } from "./view.ts";

const log = actorLogger("status");

export const MINER_VERSION: string = denoJson.version;
/** A view is reused for this long: every reader within it shares one sample of the actors. */
const VIEW_MAX_AGE_MS = 1_000;
/** Each actor gets this long to answer a sample; a restarting one is left out of that view. */
const SOURCE_TIMEOUT_MS = 1_000;
const PUSH_EVERY_MS = 1_000;
const REBIND_EVERY_MS = 30_000;

/** What the status server reads; each may throw or hang (its actor restarts): that part is left out. */
export type StatusSources = {
  queue: () => Promise<QueueSnapshot>;
  chain: () => Promise<ChainStatus>;
  /** The miner's own hotkey facts (uid, stake) from the last metagraph sync. */
  self: () => Promise<HotkeyFacts>;
  axon: () => Promise<AxonStats>;
  /** Lifetime restarts by supervisor child. */
  restarts: () => Record<string, number>;
  logs: () => readonly RecentLogLine[];
};

export type StatusDeps = {
  /** Config `status`: host, port (0 picks a free one), token (null: loopback only), gpu_poll_s. */
  host: string;
  port: number;
  token: string | null;
  gpuPollMs: number;
  /** The nvidia-smi to run; tests point this at a fake. */
  nvidiaSmi?: string;
  telemetry: Telemetry;
  identity: Omit<Identity, "version"> & { version?: string };
  /** The devices the miner trains on; a function when they change (a Ray cluster's cards). */
  devices: readonly Device[] | (() => readonly Device[]);
  queueLimit: number;
  sources: StatusSources;
  clock?: Clock;
};

type State = {
  deps: StatusDeps;
  clock: Clock;
  server: Deno.HttpServer<Deno.NetAddr> | null;
  handler: (req: Request) => Promise<Response>;
  hub: SseHub;
  gpus: GpuPoll | null;
  cached: { atMs: number; view: StatusView } | null;
  sampling: Promise<StatusView> | null;
  pollTimer: unknown;
  pushTimer: unknown;
  bindTimer: unknown;
};
type Private = { type: "poll" } | { type: "polled"; result: GpuPoll } | { type: "push" } | { type: "bind" };
type Msg = StatusMsg | Private;

export function startStatusActor(deps: StatusDeps): ActorRef<StatusMsg> {
  const clock = deps.clock ?? realClock;
  return spawn<Msg, State>({
    name: "status",
    clock,
    stopTimeoutMs: 2_000,
    init: (ctx) => init(deps, clock, ctx),
    handle,
    onStop: async (state) => {
      clock.clearTimeout(state.pollTimer);
      clock.clearTimeout(state.pushTimer);
      clock.clearTimeout(state.bindTimer);
      state.hub.closeAll();
      await state.server?.shutdown();
    },
  });
}

function init(deps: StatusDeps, clock: Clock, { self }: ActorContext<Msg>): State {
  const auth = new StatusAuth(deps.token, () => clock.now());
  const hub = new SseHub();
  const state: State = {
    deps,
    clock,
    hub,
    handler: createStatusHandler({
      auth,
      hub,
      view: () => currentView(state),
      metrics: (view) => deps.telemetry.render(view),
    }),
    server: null,
    gpus: null,
    cached: null,
    sampling: null,
    pollTimer: undefined,
    pushTimer: undefined,
    bindTimer: undefined,
  };
  bind(state, { self, clock });
  self.offer({ type: "poll" });
  state.pushTimer = clock.setTimeout(() => self.offer({ type: "push" }), PUSH_EVERY_MS);
  return state;
}

async function handle(state: State, msg: Msg, ctx: ActorContext<Msg>): Promise<void> {
  switch (msg.type) {
    case "address":
      return msg.reply(address(state));
    case "poll":
      // In the background: the mailbox stays free while nvidia-smi runs; its answer comes back as a message.
      return void pollGpus(state.deps.nvidiaSmi).then((result) => ctx.self.offer({ type: "polled", result }));
    case "polled":
      return polled(state, msg.result, ctx);
    case "push":
      return await push(state, ctx);
    case "bind":
      return bind(state, ctx);
    default:
      assertNever(msg);
  }
}

function bind(state: State, { self, clock }: ActorContext<Msg>): void {
  const { host, port, token } = state.deps;
  try {
    state.server = Deno.serve({ hostname: host, port, onListen: () => {} }, state.handler);
  } catch (e) {
    if (!(e instanceof Deno.errors.AddrInUse || e instanceof Deno.errors.AddrNotAvailable)) throw e;
    log.error("Status server cannot listen on {host}:{port} ({error}); trying again in {s} s", {
      host,
      port,
      error: e.name,
      s: REBIND_EVERY_MS / 1000,
    });
    state.bindTimer = clock.setTimeout(() => self.offer({ type: "bind" }), REBIND_EVERY_MS);
    return;
  }
  const where = address(state)!;
  log.info("Status server on {url} (token {auth})", {
    url: where.url,
    auth: token === null ? "not set: loopback only" : "required",
  });
}

function address(state: State): StatusAddress | null {
  if (!state.server) return null;
  const { hostname, port } = state.server.addr;
  return { hostname, port, url: `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}/` };
}

function polled(state: State, result: GpuPoll, ctx: ActorContext<Msg>): void {
  const before = state.gpus;
  if (!result.ok && (before === null || before.ok || before.note !== result.note)) {
    log.info("GPU figures unavailable: {note}", { note: result.note });
  }
  state.gpus = result;
  state.pollTimer = state.clock.setTimeout(() => ctx.self.offer({ type: "poll" }), state.deps.gpuPollMs);
}

async function push(state: State, ctx: ActorContext<Msg>): Promise<void> {
  if (state.hub.size > 0) state.hub.broadcast(JSON.stringify(await currentView(state)));
  state.pushTimer = state.clock.setTimeout(() => ctx.self.offer({ type: "push" }), PUSH_EVERY_MS);
}

/** The cached view while fresh; else one sample for every reader that asks meanwhile. */
function currentView(state: State): Promise<StatusView> {
  const now = state.clock.now();
  if (state.cached && now - state.cached.atMs < VIEW_MAX_AGE_MS) return Promise.resolve(state.cached.view);
  state.sampling ??= sample(state).then((view) => {
    state.cached = { atMs: state.clock.now(), view };
    return view;
  }).finally(() => (state.sampling = null));
  return state.sampling;
}

async function sample(state: State): Promise<StatusView> {
  const { deps } = state;
  const [queue, chain, self, axon] = await Promise.all([
    within(deps.sources.queue, state.clock),
    within(deps.sources.chain, state.clock),
    within(deps.sources.self, state.clock),
    within(deps.sources.axon, state.clock),
  ]);
  const s: Sample = {
    queue,
    chain,
    self,
    axon,
    restarts: deps.sources.restarts(),
    logs: deps.sources.logs(),
    gpus: state.gpus,
  };
  return buildView(s, {
    identity: { ...deps.identity, version: deps.identity.version ?? MINER_VERSION },
    devices: typeof deps.devices === "function" ? deps.devices() : deps.devices,
    queueLimit: deps.queueLimit,
    telemetry: deps.telemetry,
    nowMs: state.clock.now(),
  });
}

/** The source's answer, or null when it throws or takes longer than SOURCE_TIMEOUT_MS. */
function within<T>(source: () => Promise<T>, clock: Clock): Promise<T | null> {
  return new Promise((resolve) => {
    const timer = clock.setTimeout(() => resolve(null), SOURCE_TIMEOUT_MS);
    let p: Promise<T>;
    try {
      p = source();
    } catch {
      p = Promise.reject();
    }
    p.then(resolve, () => resolve(null)).finally(() => clock.clearTimeout(timer));
  });
}
