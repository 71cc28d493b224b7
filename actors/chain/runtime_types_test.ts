/**
 * Offline checks against the recorded mainnet metadata (finney, runtime spec 343, in ../shared/chain):
 * our spec-343 layouts encode exactly like the metadata's types, mainnet's metagraph reads are detected
 * as typed, and the storage keys the ChainActor reads have the layout the reference gives.
 */
import assert from "node:assert/strict";
import { expandMetadata, Metadata, TypeRegistry } from "@polkadot/types";
import type { Codec } from "@polkadot/types/types";
import { compactStripLength, hexToU8a, u8aConcat, u8aToHex } from "@polkadot/util";
import { blake2AsU8a, decodeAddress, encodeAddress, xxhashAsU8a } from "@polkadot/util-crypto";
import {
  bytesOf,
  decodeBytesResult,
  detectFeatures,
  metagraphPlan,
  missingRuntimeItems,
  neuronsLiteColumns,
  SELECTIVE_INDEXES,
  selectiveColumns,
  subnetStateColumns,
} from "./runtime_types.ts";

const SHARED = new URL("../../../shared/chain/", import.meta.url);
const ALICE = encodeAddress(new Uint8Array(32).fill(1), 42);
const BOB = encodeAddress(new Uint8Array(32).fill(2), 42);

async function finney(): Promise<{ registry: TypeRegistry; metadata: Metadata }> {
  const hex = (await Deno.readTextFile(new URL("finney-metadata-v15-spec343.hex", SHARED))).trim();
  const registry = new TypeRegistry();
  // The recording is the JSON-RPC result of Metadata_metadata_at_version(15): SCALE Option<OpaqueMetadata>.
  const opaque = registry.createType("Option<Bytes>", hexToU8a(hex)).unwrap();
  const metadata = new Metadata(registry, Uint8Array.from(opaque));
  registry.setMetadata(metadata);
  return { registry, metadata };
}

/** The metadata's output type of a runtime API method, by name. */
function outputType(metadata: Metadata, api: string, method: string): string {
  const a = metadata.asLatest.apis.find((x) => x.name.toString() === api)!;
  const m = a.methods.find((x) => x.name.toString() === method)!;
  return metadata.registry.lookup.getTypeDef(m.output).type;
}

const STATE = {
  netuid: 119,
  hotkeys: [ALICE, BOB],
  coldkeys: [BOB, BOB],
  active: [true, true],
  validatorPermit: [false, true],
  pruningScore: [1, 2],
  lastUpdate: [10, 11],
  emission: [0, 5],
  dividends: [0, 1],
  incentives: [3, 0],
  consensus: [0, 0],
  trust: [0, 0],
  rank: [0, 0],
  blockAtRegistration: [1, 2],
  alphaStake: [1_000_000_000, 2_500_000_000_000],
  taoStake: [0, 7],
  totalStake: [1_000_000_000, 2_500_000_000_000n],
  emissionHistory: [[1, 2], []],
};

function neuron(hotkey: string, uid: number, permit: boolean, stakes: [string, bigint][]) {
  const axon = { block: 9, version: 10002000, ip: 16909060, port: 8091, ipType: 4, protocol: 4 };
  return {
    hotkey,
    coldkey: BOB,
    uid,
    netuid: 119,
    active: true,
    axonInfo: { ...axon, placeholder1: 0, placeholder2: 0 },
    prometheusInfo: { block: 0, version: 0, ip: 0, port: 0, ipType: 0 },
    stake: stakes,
    rank: 0,
    emission: 0,
    incentive: 0,
    consensus: 0,
    trust: 0,
    validatorTrust: 0,
    dividends: 0,
    lastUpdate: 0,
    validatorPermit: permit,
    pruningScore: 0,
  };
}

Deno.test("detectFeatures() finds typed selective metagraph, subnet state and neurons lite on mainnet spec 343", async () => {
  const { metadata } = await finney();
  const features = detectFeatures(metadata);
  assert.deepEqual(features, { selectiveMetagraph: "typed", subnetState: "typed", neuronsLite: "typed" });
  assert.deepEqual(metagraphPlan(features), ["selective_metagraph", "subnet_state", "neurons_lite"]);
  assert.deepEqual(missingRuntimeItems(metadata), []);
});

Deno.test("metagraphPlan() skips a bytes-only selective metagraph and absent APIs", () => {
  assert.deepEqual(
    metagraphPlan({ selectiveMetagraph: null, subnetState: "bytes", neuronsLite: "bytes" }),
    ["subnet_state", "neurons_lite"],
  );
  assert.deepEqual(metagraphPlan({ selectiveMetagraph: "bytes", subnetState: null, neuronsLite: "typed" }), [
    "neurons_lite",
  ]);
});

Deno.test("decodeBytesResult() reads mainnet-encoded SubnetState bytes into the same columns", async () => {
  const { registry, metadata } = await finney();
  const typed = registry.createType(outputType(metadata, "SubnetInfoRuntimeApi", "get_subnet_state"), STATE);
  const bytes = typed.toU8a();
  const ours = decodeBytesResult("subnet_state", bytes);
  assert.deepEqual(u8aToHex(ours.toU8a()), u8aToHex(bytes));
  const expected = {
    hotkeys: [ALICE, BOB],
    validatorPermit: [false, true],
    stakeRao: [1_000_000_000n, 2_500_000_000_000n],
  };
  assert.deepEqual(subnetStateColumns(ours), expected);
  assert.deepEqual(subnetStateColumns(typed), expected);
  assert.deepEqual(subnetStateColumns(decodeBytesResult("subnet_state", new Uint8Array([0]))), null);
});

Deno.test("decodeBytesResult() reads mainnet-encoded NeuronInfoLite bytes and sums the stake", async () => {
  const { registry, metadata } = await finney();
  const value = [
    neuron(ALICE, 0, false, [[BOB, 5n]]),
    neuron(BOB, 1, true, [[BOB, 3_000_000_000n], [ALICE, 2n]]),
  ];
  const typed = registry.createType(outputType(metadata, "NeuronInfoRuntimeApi", "get_neurons_lite"), value);
  const ours = decodeBytesResult("neurons_lite", typed.toU8a());
  assert.deepEqual(u8aToHex(ours.toU8a()), u8aToHex(typed.toU8a()));
  const expected = { hotkeys: [ALICE, BOB], validatorPermit: [false, true], stakeRao: [5n, 3_000_000_002n] };
  assert.deepEqual(neuronsLiteColumns(ours), expected);
  assert.deepEqual(neuronsLiteColumns(typed), expected);
});

Deno.test("decodeBytesResult() throws when bytes are left over (a layout that changed)", () => {
  assert.throws(() => decodeBytesResult("subnet_state", new Uint8Array([0, 0])), /2 bytes/);
});

Deno.test("selectiveColumns() reads hotkeys, permits and total stake of a mainnet SelectiveMetagraph", async () => {
  const { registry, metadata } = await finney();
  const type = outputType(metadata, "SubnetInfoRuntimeApi", "get_selective_metagraph");
  const full: Codec = registry.createType(type, {
    netuid: 119,
    hotkeys: [ALICE, BOB],
    validatorPermit: [true, false],
    totalStake: [7n, 9_000_000_000n],
  });
  assert.deepEqual(selectiveColumns(full), {
    hotkeys: [ALICE, BOB],
    validatorPermit: [true, false],
    stakeRao: [7n, 9_000_000_000n],
  });
  assert.deepEqual(selectiveColumns(registry.createType(type, { netuid: 119, hotkeys: [ALICE] })), null);
  assert.deepEqual(selectiveColumns(registry.createType(type, null)), null);
  assert.deepEqual(SELECTIVE_INDEXES, [0, 52, 57, 69]);
});

Deno.test("Uids and Axons storage keys are twox128 prefixes, Identity netuid, Blake2_128Concat hotkey", async () => {
  const { registry, metadata } = await finney();
  const { query } = expandMetadata(registry, metadata);
  const pubkey = decodeAddress(ALICE);
  const netuid = new Uint8Array([119, 0]); // u16 little-endian
  for (const item of ["Uids", "Axons"]) {
    const expected = u8aConcat(
      xxhashAsU8a("SubtensorModule", 128),
      xxhashAsU8a(item, 128),
      netuid,
      blake2AsU8a(pubkey, 128),
      pubkey,
    );
    const name = item === "Uids" ? "uids" : "axons";
    // The decorated entry returns the key with a SCALE length prefix.
    const [, key] = compactStripLength(query.subtensorModule[name](119, ALICE));
    assert.deepEqual(u8aToHex(key), u8aToHex(expected));
  }
  const serving = query.subtensorModule.servingRateLimit;
  assert.deepEqual(serving.meta.type.asMap.hashers.map(String), ["Identity"]);
  assert.ok(metadata.asLatest.pallets.some((p) => p.name.toString() === "SubtensorModule" && p.index.eqn(7)));
});

Deno.test("serve_axon encodes as call 7.4 with netuid, version, ip u128, port, ip_type, protocol, placeholders", async () => {
  const { registry } = await finney();
  const call = registry.createType("Call", {
    callIndex: [7, 4],
    args: {
      netuid: 119,
      version: 10002000,
      ip: 16909060,
      port: 8091,
      ip_type: 4,
      protocol: 4,
      placeholder1: 0,
      placeholder2: 0,
    },
  });
  assert.deepEqual(call.section, "subtensorModule");
  assert.deepEqual(call.method, "serveAxon");
  const hex = u8aToHex(call.toU8a());
  // index, u16 netuid, u32 version, u128 ip, u16 port, then four u8.
  assert.deepEqual(
    hex,
    "0x0704" + "7700" + "509e9800" + "04030201000000000000000000000000" + "9b1f" + "04" + "04" + "00" + "00",
  );
});

Deno.test("bytesOf() strips the length prefix polkadot-js leaves on a Vec<u8> result, and only that", () => {
  const registry = new TypeRegistry();
  const inner = new Uint8Array([1, 4, 12, 0, 0]);
  const prefixed = registry.createType("Bytes", u8aConcat(new Uint8Array([inner.length << 2]), inner));
  assert.deepEqual(bytesOf(prefixed), inner);
  const bare = registry.createType("Raw", inner);
  assert.deepEqual(bytesOf(bare), inner);
});
