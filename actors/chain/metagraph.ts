/**
 * The metagraph snapshot the ChainActor answers from: hotkey → uid, validator permit and total stake
 * (in TAO), built from the columns a runtime API returns (uid = index). Immutable once built, so a
 * reply can hand it out. Pure: no I/O; the block and time are passed in.
 */
import { decodeAddress, encodeAddress } from "@polkadot/util-crypto";
import type { HotkeyFacts } from "../protocol.ts";

/** Bittensor's SS58 prefix (generic substrate). */
const SS58_PREFIX = 42;
/** rao per TAO (and per alpha unit): balances on chain are u64 rao. */
export const RAO_PER_TAO = 1_000_000_000n;

/** Which chain read produced a snapshot; the first that works, in this order. */
export type MetagraphSource = "selective_metagraph" | "subnet_state" | "neurons_lite";

/** The per-uid columns a sync reads; index = uid. Stakes in rao. */
export interface MetagraphColumns {
  hotkeys: string[];
  validatorPermit: boolean[];
  stakeRao: bigint[];
}

export interface Neuron {
  uid: number;
  hotkey: string;
  validatorPermit: boolean;
  stakeTao: number;
}

export interface MetagraphSnapshot {
  netuid: number;
  /** Block the snapshot was read at. */
  block: number;
  /** Clock time of the read, ms. */
  syncedAt: number;
  source: MetagraphSource;
  byHotkey: ReadonlyMap<string, Neuron>;
  size: number;
}

/** rao (u64) → TAO as a float, exact to the rao for any stake below ~9e6 TAO and close above. */
export function raoToTao(rao: bigint): number {
  return Number(rao / RAO_PER_TAO) + Number(rao % RAO_PER_TAO) / 1e9;
}

/** The address re-encoded with prefix 42, so lookups match whatever prefix the caller used; null if invalid. */
export function normalizeSs58(ss58: string): string | null {
  try {
    const key = decodeAddress(ss58);
    return key.length === 32 ? encodeAddress(key, SS58_PREFIX) : null;
  } catch {
    return null;
  }
}

/** Builds a snapshot; missing permit or stake entries (shorter columns) count as false / 0. */
export function buildSnapshot(
  netuid: number,
  columns: MetagraphColumns,
  block: number,
  syncedAt: number,
  source: MetagraphSource,
): MetagraphSnapshot {
  const byHotkey = new Map<string, Neuron>();
  columns.hotkeys.forEach((raw, uid) => {
    const hotkey = normalizeSs58(raw) ?? raw;
    byHotkey.set(hotkey, {
      uid,
      hotkey,
      validatorPermit: columns.validatorPermit[uid] ?? false,
      stakeTao: raoToTao(columns.stakeRao[uid] ?? 0n),
    });
  });
  return { netuid, block, syncedAt, source, byHotkey, size: columns.hotkeys.length };
}

/** The facts about one hotkey; an unknown, invalid or not-yet-synced hotkey is unregistered. */
export function lookup(snapshot: MetagraphSnapshot | null, ss58: string, stale: boolean): HotkeyFacts {
  const key = normalizeSs58(ss58);
  const neuron = key === null ? undefined : snapshot?.byHotkey.get(key);
  if (!neuron) return { registered: false, uid: null, validatorPermit: false, stakeTao: 0, stale };
  return {
    registered: true,
    uid: neuron.uid,
    validatorPermit: neuron.validatorPermit,
    stakeTao: neuron.stakeTao,
    stale,
  };
}

/** Neurons with a validator permit, highest stake first. */
export function validators(snapshot: MetagraphSnapshot): Neuron[] {
  return [...snapshot.byHotkey.values()].filter((n) => n.validatorPermit).sort((a, b) =>
    b.stakeTao - a.stakeTao
  );
}

/**
 * A warning when `min_stake` shuts out every validator (the axon would refuse them all), or null.
 * Not raised for an empty metagraph, which says nothing yet.
 */
export function minStakeWarning(snapshot: MetagraphSnapshot, minStakeTao: number): string | null {
  const vals = validators(snapshot);
  if (vals.length === 0 || vals[0].stakeTao >= minStakeTao) return null;
  return `No validator on netuid ${snapshot.netuid} has miner.min_stake ${minStakeTao} TAO ` +
    `(${vals.length} with a permit, highest stake ${
      vals[0].stakeTao.toFixed(3)
    } TAO): every request will be refused`;
}
