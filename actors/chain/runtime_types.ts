/**
 * Version tolerance for the Subtensor runtime: which metagraph reads a runtime offers (from its
 * metadata), and the decoding of their results into per-uid columns. Mainnet (spec ≥ 343) declares
 * typed results; older runtimes (the spec-218 local chain) return SCALE bytes (`Vec<u8>`) that hold the
 * same structs, decoded here with the spec-343 layouts below. Pure: no I/O.
 */
import { type Metadata, TypeRegistry } from "@polkadot/types";
import type { Codec } from "@polkadot/types/types";
import { compactFromU8a } from "@polkadot/util";
import type { MetagraphColumns, MetagraphSource } from "./metagraph.ts";

/** Spec-343 layouts (st `rpc_info/neuron_info.rs`, `rpc_info/show_subnet.rs`), checked against its metadata. */
export const TYPE_DEFS = {
  SatoriAxonInfo: {
    block: "u64",
    version: "u32",
    ip: "u128",
    port: "u16",
    ipType: "u8",
    protocol: "u8",
    placeholder1: "u8",
    placeholder2: "u8",
  },
  SatoriPrometheusInfo: { block: "u64", version: "u32", ip: "u128", port: "u16", ipType: "u8" },
  SatoriNeuronInfoLite: {
    hotkey: "AccountId32",
    coldkey: "AccountId32",
    uid: "Compact<u16>",
    netuid: "Compact<u16>",
    active: "bool",
    axonInfo: "SatoriAxonInfo",
    prometheusInfo: "SatoriPrometheusInfo",
    stake: "Vec<(AccountId32, Compact<u64>)>",
    rank: "Compact<u16>",
    emission: "Compact<u64>",
    incentive: "Compact<u16>",
    consensus: "Compact<u16>",
    trust: "Compact<u16>",
    validatorTrust: "Compact<u16>",
    dividends: "Compact<u16>",
    lastUpdate: "Compact<u64>",
    validatorPermit: "bool",
    pruningScore: "Compact<u16>",
  },
  SatoriSubnetState: {
    netuid: "Compact<u16>",
    hotkeys: "Vec<AccountId32>",
    coldkeys: "Vec<AccountId32>",
    active: "Vec<bool>",
    validatorPermit: "Vec<bool>",
    pruningScore: "Vec<Compact<u16>>",
    lastUpdate: "Vec<Compact<u64>>",
    emission: "Vec<Compact<u64>>",
    dividends: "Vec<Compact<u16>>",
    incentives: "Vec<Compact<u16>>",
    consensus: "Vec<Compact<u16>>",
    trust: "Vec<Compact<u16>>",
    rank: "Vec<Compact<u16>>",
    blockAtRegistration: "Vec<Compact<u64>>",
    alphaStake: "Vec<Compact<u64>>",
    taoStake: "Vec<Compact<u64>>",
    totalStake: "Vec<Compact<u64>>",
    emissionHistory: "Vec<Vec<Compact<u64>>>",
  },
};

const registry = new TypeRegistry();
registry.register(TYPE_DEFS);

/** `SelectiveMetagraphIndex` values (st `rpc_info/metagraph.rs`): netuid, hotkeys, validator_permit, total_stake. */
export const SELECTIVE_INDEXES = [0, 52, 57, 69];

/** How a runtime API returns its result: typed by the metadata, or as SCALE bytes to decode here. */
export type ResultShape = "typed" | "bytes";

export interface RuntimeFeatures {
  selectiveMetagraph: ResultShape | null;
  subnetState: ResultShape | null;
  neuronsLite: ResultShape | null;
}

/** The metagraph reads a runtime offers, from its metadata (v15+ lists runtime APIs with their types). */
export function detectFeatures(metadata: Metadata): RuntimeFeatures {
  const shapes = new Map<string, ResultShape>();
  const latest = metadata.asLatest;
  for (const api of latest.apis) {
    for (const m of api.methods) {
      const type = metadata.registry.lookup.getTypeDef(m.output).type;
      const shape = type === "Bytes" || type === "Vec<u8>" ? "bytes" : "typed";
      shapes.set(`${api.name.toString()}.${m.name.toString()}`, shape);
    }
  }
  return {
    selectiveMetagraph: shapes.get("SubnetInfoRuntimeApi.get_selective_metagraph") ?? null,
    subnetState: shapes.get("SubnetInfoRuntimeApi.get_subnet_state") ?? null,
    neuronsLite: shapes.get("NeuronInfoRuntimeApi.get_neurons_lite") ?? null,
  };
}

/** Storage items and calls the ChainActor relies on, as `Pallet.item`; the missing ones, by name. */
export function missingRuntimeItems(metadata: Metadata): string[] {
  const pallet = metadata.asLatest.pallets.find((p) => p.name.toString() === "SubtensorModule");
  if (!pallet) return ["SubtensorModule"];
  const storage = new Set(pallet.storage.unwrapOr(null)?.items.map((i) => i.name.toString()) ?? []);
  const missing = ["Uids", "Axons", "ServingRateLimit"].filter((n) => !storage.has(n));
  const calls = pallet.calls.isSome
    ? metadata.registry.lookup.getSiType(pallet.calls.unwrap().type).def.asVariant.variants.map((v) =>
      v.name.toString()
    )
    : [];
  if (!calls.includes("serve_axon")) missing.push("serve_axon");
  return missing.map((n) => `SubtensorModule.${n}`);
}

/** Decodes the SCALE bytes an older runtime returns for `get_subnet_state` / `get_neurons_lite`. */
export function decodeBytesResult(
  method: "subnet_state" | "neurons_lite",
  bytes: Uint8Array,
): Codec {
  const type = method === "subnet_state" ? "Option<SatoriSubnetState>" : "Vec<SatoriNeuronInfoLite>";
  const value = registry.createType(type, bytes);
  if (value.encodedLength !== bytes.length) {
    throw new TypeError(
      `Cannot decode ${method}: ${bytes.length} bytes, the spec-343 layout reads ${value.encodedLength}`,
    );
  }
  return value;
}

/**
 * The SCALE struct inside a `Vec<u8>` runtime-API result. polkadot-js 16 hands it over still carrying its
 * own compact length prefix (the raw `state_call` answer); a prefix that spans exactly the rest is stripped.
 */
export function bytesOf(result: Codec): Uint8Array {
  const raw = Uint8Array.from(result as unknown as Uint8Array);
  if (raw.length === 0) return raw;
  const [offset, length] = compactFromU8a(raw);
  return offset + length.toNumber() === raw.length ? raw.subarray(offset) : raw;
}

// Field access that works on metadata-typed structs and on ours: both name fields in camelCase.
type StructLike = Codec & { get(name: string): Codec | undefined };
type OptionLike = Codec & { isSome: boolean; unwrap(): Codec };
type Items = Codec & Iterable<Codec>;

function field(s: Codec, name: string): Codec {
  const value = (s as StructLike).get(name);
  if (value === undefined) throw new TypeError(`Cannot read field "${name}" of ${s.toRawType()}`);
  return value;
}
const items = (c: Codec): Codec[] => [...(c as Items)];
const bool = (c: Codec) => (c as unknown as { isTrue: boolean }).isTrue;
const big = (c: Codec) => (c as unknown as { toBigInt(): bigint }).toBigInt();
const unwrapOption = (
  c: Codec,
): Codec | null => ((c as OptionLike).isSome ? (c as OptionLike).unwrap() : null);

/** `Option<SubnetState>` → columns with `total_stake` (null for a subnet that does not exist). */
export function subnetStateColumns(result: Codec): MetagraphColumns | null {
  const state = unwrapOption(result);
  if (!state) return null;
  return {
    hotkeys: items(field(state, "hotkeys")).map(String),
    validatorPermit: items(field(state, "validatorPermit")).map(bool),
    stakeRao: items(field(state, "totalStake")).map(big),
  };
}

/** `Vec<NeuronInfoLite>` → columns; stake is the sum of `stake` (the hotkey's alpha: no root TAO weight). */
export function neuronsLiteColumns(result: Codec): MetagraphColumns {
  const cols: MetagraphColumns = { hotkeys: [], validatorPermit: [], stakeRao: [] };
  for (const n of items(result)) {
    const uid = Number(big(field(n, "uid")));
    cols.hotkeys[uid] = String(field(n, "hotkey"));
    cols.validatorPermit[uid] = bool(field(n, "validatorPermit"));
    cols.stakeRao[uid] = items(field(n, "stake")).reduce((sum, pair) => sum + big(items(pair)[1]), 0n);
  }
  return cols;
}

/** `Option<SelectiveMetagraph>` (asked for SELECTIVE_INDEXES) → columns, or null when a column is absent. */
export function selectiveColumns(result: Codec): MetagraphColumns | null {
  const graph = unwrapOption(result);
  if (!graph) return null;
  const hotkeys = unwrapOption(field(graph, "hotkeys"));
  const permits = unwrapOption(field(graph, "validatorPermit"));
  const stakes = unwrapOption(field(graph, "totalStake"));
  if (!hotkeys || !permits || !stakes) return null;
  return {
    hotkeys: items(hotkeys).map(String),
    validatorPermit: items(permits).map(bool),
    stakeRao: items(stakes).map(big),
  };
}

/** The order a sync tries the reads in; only those the runtime offers. */
export function metagraphPlan(features: RuntimeFeatures): MetagraphSource[] {
  const plan: MetagraphSource[] = [];
  if (features.selectiveMetagraph === "typed") plan.push("selective_metagraph");
  if (features.subnetState) plan.push("subnet_state");
  if (features.neuronsLite) plan.push("neurons_lite");
  return plan;
}
