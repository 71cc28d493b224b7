/**
 * ChainActor: owns the connection to the Subtensor node and the metagraph snapshot. On connecting it
 * checks the hotkey's registration (crashing with the btcli command when it is missing), serves the axon
 * when the chain's entry differs (within the serving rate limit), and re-reads hotkey → uid, permit and
 * stake every `sync_interval_blocks`. It answers the AxonActor's lookups from the snapshot, never waiting
 * on the chain; when the node is unreachable it reconnects with backoff and keeps answering, marked stale.
 */
import type { ApiPromise } from "@polkadot/api";
import { assertNever, ChainError } from "../../core/errors.ts";
import { actorLogger } from "../../core/logging.ts";
import type { ChainMsg } from "../protocol.ts";
import { type ActorContext, type ActorRef, realClock, spawn } from "../runtime/actor.ts";
import { backoffDelay } from "../runtime/intensity.ts";
import { SDK_VERSION, wantedAxon } from "./axon_info.ts";
import { closeApi, openApi, readRegistration } from "./chain_client.ts";
import { checkAxon, onAxonRead, onServed } from "./chain_serve.ts";
import {
  background,
  type ChainDeps,
  type ChainState,
  DEFAULT_BACKOFF,
  deliver,
  type Msg,
  status,
} from "./chain_state.ts";
import { onClockHead, onClockRead } from "./chain_clock.ts";
import { onSynced, requestSync, startSync } from "./chain_sync.ts";
import { lookup } from "./metagraph.ts";
import { detectFeatures, metagraphPlan, missingRuntimeItems } from "./runtime_types.ts";

export type { ChainSigner } from "./chain_client.ts";
export type { ChainConfig, ChainDeps } from "./chain_state.ts";

export function startChainActor(deps: ChainDeps): ActorRef<ChainMsg> {
  return spawn<Msg, ChainState>({
    name: "chain",
    capacity: 10_000, // one lookup per axon request
    clock: deps.clock,
    init: (ctx) => init(deps, ctx),
    handle,
    onStop: async (state) => {
      state.stopping = true;
      await teardown(state);
    },
  }) as ActorRef<ChainMsg>;
}

async function handle(state: ChainState, msg: Msg): Promise<void> {
  switch (msg.type) {
    case "lookupHotkey":
      return msg.reply(lookup(state.snapshot, msg.ss58, state.staleSince !== null));
    case "getStatus":
      return msg.reply(status(state));
    case "syncMetagraph":
      return requestSync(state, msg.reply);
    case "connected":
      return await onConnected(state, msg.api);
    case "connectFailed":
      return onConnectFailed(state, msg.error);
    case "reconnect":
      return connect(state);
    case "disconnected":
      return onDisconnected(state, msg.api);
    case "head":
      return onHead(state, msg);
    case "clockRead":
      return onClockRead(state, msg);
    case "registration":
      return await onRegistration(state, msg);
    case "synced":
      return onSynced(state, msg.api, msg.meta);
    case "axonRead":
      return onAxonRead(state, msg.api, msg.read);
    case "served":
      return onServed(state, msg.api, msg.outcome);
    case "failed":
      return onFailed(state, msg.api, msg.what, msg.error);
    default:
      assertNever(msg);
  }
}

function init(deps: ChainDeps, { self, clock }: ActorContext<Msg>): ChainState {
  const wanted = wantedAxon(deps.config.axon, deps.sdkVersion ?? SDK_VERSION);
  const state: ChainState = {
    deps,
    self,
    clock: deps.clock ?? clock ?? realClock,
    log: actorLogger("chain"),
    api: null,
    features: null,
    unsubHeads: null,
    attempt: 0,
    reconnectTimer: undefined,
    stopping: false,
    staleSince: (deps.clock ?? clock ?? realClock).now(),
    block: null,
    specVersion: null,
    uid: null,
    registrationChecked: false,
    snapshot: null,
    syncing: false,
    waiters: [],
    lastWarning: null,
    wanted: wanted.ok ? wanted.params : null,
    axon: wanted.ok ? { state: "pending" } : { state: "disabled", reason: wanted.reason },
    axonBusy: false,
    clockCheck: { samples: [], lastBlock: null, done: false },
  };
  if (!wanted.ok) state.log.warn("Not serving the axon on chain: {reason}", { reason: wanted.reason });
  connect(state);
  return state;
}

function connect(state: ChainState): void {
  if (state.stopping) return;
  const { connectTimeoutMs = 15_000, requestTimeoutMs = 30_000 } = state.deps;
  const endpoint = state.deps.config.bittensor.chain_endpoint;
  background(
    state,
    openApi(endpoint, connectTimeoutMs, requestTimeoutMs),
    (api) => ({ type: "connected", api }),
    (error) => ({ type: "connectFailed", error }),
  );
}

function scheduleReconnect(state: ChainState): void {
  const delay = backoffDelay(state.attempt++, state.deps.backoff ?? DEFAULT_BACKOFF);
  state.clock.clearTimeout(state.reconnectTimer);
  state.reconnectTimer = state.clock.setTimeout(() => deliver(state, { type: "reconnect" }), delay);
}

async function onConnected(state: ChainState, api: ApiPromise): Promise<void> {
  if (state.stopping) return void (await closeApi(api));
  const endpoint = state.deps.config.bittensor.chain_endpoint;
  const missing = missingRuntimeItems(api.runtimeMetadata);
  if (missing.length > 0) {
    await closeApi(api);
    await teardown(state);
    const what = `runtime lacks ${missing.join(", ")}`;
    throw new ChainError("unsupported_runtime", endpoint, `Cannot use chain ${endpoint}: ${what}`);
  }
  Object.assign(state, { api, attempt: 0, features: detectFeatures(api.runtimeMetadata) });
  state.clockCheck.lastBlock = null; // the first head of a subscription is the current one, not a fresh one
  state.specVersion = api.runtimeVersion.specVersion.toNumber();
  state.log.info("Connected to {endpoint} (runtime spec {spec}); metagraph via {plan}", {
    endpoint,
    spec: state.specVersion,
    plan: metagraphPlan(state.features!).join(", "),
  });
  api.on("disconnected", () => deliver(state, { type: "disconnected", api }));
  api.rpc.chain.subscribeNewHeads((h) =>
    // The arrival time is taken here, not when the mailbox gets to it: the clock check compares it.
    deliver(state, {
      type: "head",
      api,
      block: h.number.toNumber(),
      hash: h.hash.toHex(),
      seenMs: state.clock.now(),
    })
  )
    .then(
      (unsub) => state.api === api ? (state.unsubHeads = unsub) : unsub(),
      (e) => state.log.warn("Cannot follow new blocks: {error}", { error: (e as Error).message }),
    );
  if (!state.registrationChecked) {
    const { netuid } = state.deps.config.bittensor;
    background(state, readRegistration(api, netuid, state.deps.signer.hotkey.ss58), (r) => ({
      type: "registration",
      api,
      ...r,
    }), (error) => ({ type: "failed", api, what: "registration", error }));
  } else {
    checkAxon(state);
    startSync(state);
  }
}

function onConnectFailed(state: ChainState, error: unknown): void {
  const endpoint = state.deps.config.bittensor.chain_endpoint;
  state.log.warn("Cannot connect to {endpoint} (attempt {attempt}): {error}", {
    endpoint,
    attempt: state.attempt + 1,
    error: (error as Error).message,
  });
  scheduleReconnect(state);
}

function onDisconnected(state: ChainState, api: ApiPromise): void {
  if (api !== state.api) return;
  state.staleSince ??= state.clock.now();
  state.log.warn(
    "Lost connection to {endpoint}: answering from the metagraph of block {block}, marked stale",
    {
      endpoint: state.deps.config.bittensor.chain_endpoint,
      block: state.snapshot?.block ?? null,
    },
  );
  dropApi(state);
  if (state.axon.state === "submitting") state.axon = { state: "pending" };
  scheduleReconnect(state);
}

/** Forgets the connection (closing it in the background) and fails what waited on it. */
function dropApi(state: ChainState): void {
  const api = state.api;
  state.unsubHeads?.();
  Object.assign(state, { api: null, unsubHeads: null, syncing: false, axonBusy: false });
  if (api) void closeApi(api);
  const message = `Lost connection to ${state.deps.config.bittensor.chain_endpoint}`;
  for (const reply of state.waiters.splice(0)) reply({ ok: false, reason: "disconnected", message });
}

async function teardown(state: ChainState): Promise<void> {
  state.clock.clearTimeout(state.reconnectTimer);
  const api = state.api;
  dropApi(state);
  if (api) await closeApi(api);
}

function onHead(state: ChainState, msg: Extract<Msg, { type: "head" }>): void {
  const { api, block } = msg;
  if (api !== state.api) return;
  state.block = block;
  onClockHead(state, msg);
  const { axon } = state;
  // A pending entry is one whose read failed: retry it each block.
  if (axon.state === "pending" || (axon.state === "waiting" && block + 1 >= axon.untilBlock)) {
    checkAxon(state);
  }
  const due = state.snapshot === null ||
    block - state.snapshot.block >= state.deps.config.bittensor.sync_interval_blocks;
  if (due && state.registrationChecked) startSync(state);
}

async function onRegistration(
  state: ChainState,
  msg: { api: ApiPromise; uid: number | null; subnetExists: boolean },
): Promise<void> {
  if (msg.api !== state.api) return;
  const { config, signer } = state.deps;
  const { netuid, chain_endpoint: endpoint } = config.bittensor;
  const hotkey = signer.hotkey.ss58;
  if (!msg.subnetExists || msg.uid === null) {
    await teardown(state);
    if (!msg.subnetExists) {
      throw new ChainError(
        "no_subnet",
        endpoint,
        `Cannot start the miner: netuid ${netuid} does not exist on ${endpoint}`,
      );
    }
    const cmd = `btcli subnet register --netuid ${netuid} --wallet.name ${config.wallet.name} ` +
      `--wallet.hotkey ${config.wallet.hotkey}`;
    throw new ChainError(
      "not_registered",
      endpoint,
      `Cannot start the miner: hotkey "${hotkey}" is not registered on netuid ${netuid} at ${endpoint}; ` +
        `register it with \`${cmd}\` (the coldkey pays the registration burn)`,
    );
  }
  state.uid = msg.uid;
  state.registrationChecked = true;
  state.log.info("Hotkey {hotkey} is registered on netuid {netuid} as uid {uid}", {
    hotkey,
    netuid,
    uid: msg.uid,
  });
  checkAxon(state);
  startSync(state);
}

function onFailed(state: ChainState, api: ApiPromise, what: string, error: unknown): void {
  if (api !== state.api) return;
  const message = (error as Error)?.message ?? String(error);
  state.log.warn("Chain read ({what}) failed: {message}", { what, message });
  if (what === "sync") {
    Object.assign(state, { syncing: false, staleSince: state.staleSince ?? state.clock.now() });
    for (const reply of state.waiters.splice(0)) reply({ ok: false, reason: "failed", message });
  }
  if (what === "axon") state.axonBusy = false;
  // A failed registration read is retried on the next connection: drop this one.
  if (what === "registration") onDisconnected(state, api);
}
