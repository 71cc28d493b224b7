import assert from "node:assert/strict";
import { encodeAddress } from "@polkadot/util-crypto";
import { buildSnapshot, lookup, minStakeWarning, normalizeSs58, raoToTao, validators } from "./metagraph.ts";

const key = (n: number, prefix = 42) => encodeAddress(new Uint8Array(32).fill(n), prefix);
const COLUMNS = {
  hotkeys: [key(1), key(2), key(3)],
  validatorPermit: [false, true, true],
  stakeRao: [5n, 2_500_000_000_000n, 1_234_567_890_123n],
};

Deno.test("raoToTao() divides by 1e9 exactly, also past 2^53 rao", () => {
  assert.equal(raoToTao(0n), 0);
  assert.equal(raoToTao(1n), 1e-9);
  assert.equal(raoToTao(1_500_000_000n), 1.5);
  assert.equal(raoToTao(21_000_000n * 1_000_000_000n), 21_000_000);
  assert.equal(raoToTao(12_345_678_901_234_567_891n), 12_345_678_901.234568);
});

Deno.test("normalizeSs58() re-encodes with prefix 42 and rejects what is not an account id", () => {
  assert.equal(normalizeSs58(key(1, 0)), key(1));
  assert.equal(normalizeSs58(key(1)), key(1));
  assert.equal(normalizeSs58("not-an-address"), null);
  assert.equal(normalizeSs58(""), null);
});

Deno.test("lookup() answers uid, permit and stake in TAO from the snapshot", () => {
  const snap = buildSnapshot(119, COLUMNS, 1000, 42, "subnet_state");
  assert.equal(snap.size, 3);
  assert.deepEqual(lookup(snap, key(2), false), {
    registered: true,
    uid: 1,
    validatorPermit: true,
    stakeTao: 2500,
    stale: false,
  });
  assert.deepEqual(lookup(snap, key(3, 0), true), {
    registered: true,
    uid: 2,
    validatorPermit: true,
    stakeTao: 1234.567890123,
    stale: true,
  });
  const unknown = { registered: false, uid: null, validatorPermit: false, stakeTao: 0, stale: false };
  assert.deepEqual(lookup(snap, key(9), false), unknown);
  assert.deepEqual(lookup(snap, "garbage", false), unknown);
  assert.deepEqual(lookup(null, key(2), true), { ...unknown, stale: true });
});

Deno.test("buildSnapshot() treats missing permit and stake entries as false and zero", () => {
  const snap = buildSnapshot(
    1,
    { hotkeys: [key(1), key(2)], validatorPermit: [true], stakeRao: [] },
    5,
    0,
    "neurons_lite",
  );
  assert.deepEqual(lookup(snap, key(2), false), {
    registered: true,
    uid: 1,
    validatorPermit: false,
    stakeTao: 0,
    stale: false,
  });
});

Deno.test("minStakeWarning() warns when no permitted validator reaches min_stake", () => {
  const snap = buildSnapshot(119, COLUMNS, 1000, 0, "subnet_state");
  assert.deepEqual(validators(snap).map((n) => n.uid), [1, 2]);
  assert.equal(minStakeWarning(snap, 1000), null);
  const warning = minStakeWarning(snap, 10_000);
  assert.match(
    warning!,
    /No validator on netuid 119 has miner\.min_stake 10000 TAO \(2 with a permit, highest stake 2500\.000 TAO\)/,
  );
  assert.equal(
    minStakeWarning(
      buildSnapshot(119, { hotkeys: [], validatorPermit: [], stakeRao: [] }, 1, 0, "subnet_state"),
      1,
    ),
    null,
  );
});
