/**
 * The ChainActor's state and private messages, shared by its flows (chain_sync.ts, chain_serve.ts): the
 * background-work helpers post chain results back to the mailbox, so state changes stay one at a time.
 */
import type { ApiPromise } from "@polkadot/api";
import { MailboxFullError } from "../../core/errors.ts";
import type { actorLogger } from "../../core/logging.ts";
import type { AxonServeState, ChainMsg, ChainStatus, Reply, SyncResult } from "../protocol.ts";
import type { ActorRef, Clock } from "../runtime/actor.ts";
import type { Backoff } from "../runtime/intensity.ts";
import type { AxonConfig, ServeParams } from "./axon_info.ts";
import type { ChainSigner, readAxonState, readMetagraph, ServeOutcome } from "./chain_client.ts";
import type { ClockSample } from "./clock_skew.ts";
import { type MetagraphSnapshot, validators } from "./metagraph.ts";
import type { RuntimeFeatures } from "./runtime_types.ts";

/** The config keys the ChainActor reads; a MinerConfig fits. */
export interface ChainConfig {
  wallet: { name: string; hotkey: string };
  bittensor: { netuid: number; chain_endpoint: string; sync_interval_blocks: number };
  miner: { min_stake: number };
  axon: AxonConfig;
}

export interface ChainDeps {
  config: ChainConfig;
  /** Signs `serve_axon`: the miner's hotkey (core/wallet.ts `Wallet`). */
  signer: ChainSigner;
  clock?: Clock;
  /** Delays between reconnect attempts; default 1 s doubling to 30 s, ±20 %. */
  backoff?: Backoff;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** SDK version advertised in the axon entry (`version_as_int`); default the SDK the axon speaks. */
  sdkVersion?: string;
  /** Fresh blocks the start-up clock check looks at (actors/chain/clock_skew.ts); default 3. */
  clockSamples?: number;
}

export type Meta = Awaited<ReturnType<typeof readMetagraph>>;
export type AxonRead = Awaited<ReturnType<typeof readAxonState>>;
export type Private =
  | { type: "connected"; api: ApiPromise }
  | { type: "connectFailed"; error: unknown }
  | { type: "reconnect" }
  | { type: "disconnected"; api: ApiPromise }
  /** A new best head; `seenMs` is the local time its header arrived, for the clock check. */
  | { type: "head"; api: ApiPromise; block: number; hash: string; seenMs: number }
  /** A fresh block's `Timestamp.Now` (null when the read failed) for the clock check. */
  | { type: "clockRead"; api: ApiPromise; block: number; seenMs: number; chainMs: number | null }
  | { type: "registration"; api: ApiPromise; uid: number | null; subnetExists: boolean }
  | { type: "synced"; api: ApiPromise; meta: Meta }
  | { type: "axonRead"; api: ApiPromise; read: AxonRead }
  | { type: "served"; api: ApiPromise; outcome: ServeOutcome }
  | { type: "failed"; api: ApiPromise; what: "sync" | "registration" | "axon"; error: unknown };
export type Msg = ChainMsg | Private;

export interface ChainState {
  deps: ChainDeps;
  self: ActorRef<Msg>;
  clock: Clock;
  log: ReturnType<typeof actorLogger>;
  api: ApiPromise | null;
  features: RuntimeFeatures | null;
  unsubHeads: (() => void) | null;
  attempt: number;
  reconnectTimer: unknown;
  stopping: boolean;
  staleSince: number | null;
  block: number | null;
  specVersion: number | null;
  uid: number | null;
  registrationChecked: boolean;
  snapshot: MetagraphSnapshot | null;
  syncing: boolean;
  waiters: Reply<SyncResult>[];
  lastWarning: string | null;
  wanted: ServeParams | null;
  axon: AxonServeState;
  axonBusy: boolean;
  clockCheck: ClockCheck;
}

/** The start-up comparison of the local clock with the chain's (chain_clock.ts). */
export interface ClockCheck {
  samples: ClockSample[];
  /** Highest block seen on this connection; null until its first head, which is not fresh. */
  lastBlock: number | null;
  done: boolean;
}

export const DEFAULT_BACKOFF: Backoff = { minMs: 1_000, maxMs: 30_000, jitter: 0.2 };

/** Posts a background result to the actor; a full mailbox is retried shortly, a stopped actor drops it. */
export function deliver(state: ChainState, msg: Private): void {
  if (state.self.offer(msg) instanceof MailboxFullError) {
    state.clock.setTimeout(() => deliver(state, msg), 20);
  }
}

/** Runs chain I/O off the mailbox; its result comes back as a message. */
export function background<T>(
  state: ChainState,
  work: Promise<T>,
  ok: (v: T) => Private,
  fail: (e: unknown) => Private,
) {
  work.then((v) => deliver(state, ok(v)), (e) => deliver(state, fail(e)));
}

export function status(state: ChainState): ChainStatus {
  const s = state.snapshot;
  return {
    endpoint: state.deps.config.bittensor.chain_endpoint,
    netuid: state.deps.config.bittensor.netuid,
    hotkey: state.deps.signer.hotkey.ss58,
    connected: state.api !== null,
    staleSince: state.staleSince,
    block: state.block,
    specVersion: state.specVersion,
    uid: state.uid,
    metagraph: s &&
      {
        block: s.block,
        syncedAt: s.syncedAt,
        neurons: s.size,
        validators: validators(s).length,
        source: s.source,
      },
    axon: state.axon,
  };
}
