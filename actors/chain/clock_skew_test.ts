import assert from "node:assert/strict";
import { type ClockSample, clockWarning, judgeClock } from "./clock_skew.ts";

const T = 1_800_000_000_000;
/** Block `block` built at chain time T + 12 s per block, its header seen `lagMs` later on the local clock. */
const seen = (block: number, lagMs: number): ClockSample => ({
  block,
  chainMs: T + block * 12_000,
  seenMs: T + block * 12_000 + lagMs,
});

Deno.test("judgeClock() is pending until enough fresh blocks, then ok within 1 s", () => {
  assert.deepEqual(judgeClock([]), { kind: "pending" });
  assert.deepEqual(judgeClock([seen(1, 300), seen(2, 900)]), { kind: "pending" });
  assert.deepEqual(judgeClock([seen(1, 300), seen(2, 900), seen(3, -1_000)]), {
    kind: "ok",
    offsetMs: -1_000,
    blocks: [1, 2, 3],
  });
  assert.equal(clockWarning(judgeClock([seen(1, 1_000), seen(2, 1_000), seen(3, 1_000)])), null);
});

Deno.test("judgeClock() says behind when every fresh block is timestamped over 1 s in the local future", () => {
  // One block from a skewed author is not enough.
  assert.equal(judgeClock([seen(7, -3_000), seen(8, -2_000), seen(9, -200)]).kind, "ok");
  const v = judgeClock([seen(7, -3_000), seen(8, -1_001), seen(9, -2_000)]);
  assert.deepEqual(v, { kind: "behind", ms: 1_001, blocks: [7, 8, 9] });
  assert.match(
    clockWarning(v)!,
    /^Local clock is at least 1\.0 s behind the chain \(blocks 7, 8, 9 .*btauth\/1 allows 2 s.*NTP/,
  );
});

Deno.test("judgeClock() says ahead only when every fresh block arrives more than 1 s late", () => {
  // One block seen quickly shows the late ones were slow to arrive, not that the clock is ahead.
  assert.equal(judgeClock([seen(1, 5_000), seen(2, 4_000), seen(3, 400)]).kind, "ok");
  const v = judgeClock([seen(1, 5_000), seen(2, 3_500), seen(3, 4_000)]);
  assert.deepEqual(v, { kind: "ahead", ms: 3_500, blocks: [1, 2, 3] });
  assert.match(clockWarning(v)!, /^Local clock runs up to 3\.5 s ahead of the chain \(blocks 1, 2, 3 /);
  assert.deepEqual(judgeClock([seen(1, 1_500)], { want: 1 }), { kind: "ahead", ms: 1_500, blocks: [1] });
});
