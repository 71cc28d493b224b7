/**
 * Is the local clock close to the chain's? btauth/1 accepts a signed timestamp at most 2 s in the
 * verifier's future, so a miner whose clock is off by more than 1 s has little margin left against a
 * validator's. Pure: the ChainActor feeds it samples (chain_clock.ts) and logs the verdict.
 *
 * A block's `Timestamp.Now` is its author's clock when the block was built, at the start of its slot, so
 * the latest block at any moment is 0-12 s old and says little. A *fresh* block says more: seen at local
 * time `seen`, it was built at chain time `t` a short delay `d` earlier (building, gossip, import), so
 * `seen - t = offset + d` with `d >= 0`, where `offset` is how far the local clock runs ahead. Over a few
 * fresh blocks (so that one author with a skewed clock, or one slow block, decides nothing):
 *  - if even the largest `seen - t` is below `-tolerance`, every block is timestamped in our future: the
 *    local clock is behind by more than `tolerance` (a delay only hides a lag, never fakes one);
 *  - if even the smallest `seen - t` is above `tolerance`, the local clock runs ahead by up to that much,
 *    or the node sees every block late, which the warning says.
 */

/** btauth/1 allows 2 s of future skew; warn at half of it. */
export const CLOCK_TOLERANCE_MS = 1_000;
/** Fresh blocks to see before judging (a slow block or a skewed author alone must not warn). */
export const CLOCK_SAMPLES = 3;

export interface ClockSample {
  readonly block: number;
  /** The block's `Timestamp.Now` (ms since the epoch). */
  readonly chainMs: number;
  /** Local time when its header arrived (ms since the epoch). */
  readonly seenMs: number;
}

export type ClockVerdict =
  | { kind: "pending" }
  | { kind: "ok"; offsetMs: number; blocks: number[] }
  /** Every fresh block is timestamped at least `ms` in the local future: the local clock is behind. */
  | { kind: "behind"; ms: number; blocks: number[] }
  /** Fresh blocks arrive at least `ms` after their timestamp: the local clock is up to `ms` ahead. */
  | { kind: "ahead"; ms: number; blocks: number[] };

/** The verdict once `want` fresh blocks have been seen; `pending` before. */
export function judgeClock(
  samples: readonly ClockSample[],
  { want = CLOCK_SAMPLES, toleranceMs = CLOCK_TOLERANCE_MS } = {},
): ClockVerdict {
  if (samples.length < want || samples.length === 0) return { kind: "pending" };
  const offsets = samples.map((s) => s.seenMs - s.chainMs);
  const blocks = samples.map((s) => s.block);
  const least = Math.min(...offsets);
  const most = Math.max(...offsets);
  if (most < -toleranceMs) return { kind: "behind", ms: -most, blocks };
  if (least > toleranceMs) return { kind: "ahead", ms: least, blocks };
  return { kind: "ok", offsetMs: least, blocks };
}

/** The operator's line for a verdict that warns, or null. */
export function clockWarning(v: ClockVerdict, toleranceMs = CLOCK_TOLERANCE_MS): string | null {
  const s = (ms: number) => (ms / 1000).toFixed(1);
  const fix = "synchronise it (NTP: `timedatectl set-ntp true`, chrony)";
  const limit = `more than ${s(toleranceMs)} s; btauth/1 allows 2 s of skew`;
  if (v.kind === "behind") {
    return `Local clock is at least ${s(v.ms)} s behind the chain (blocks ${v.blocks.join(", ")} are ` +
      `timestamped that far in our future), ${limit}: ${fix}`;
  }
  if (v.kind === "ahead") {
    return `Local clock runs up to ${s(v.ms)} s ahead of the chain (blocks ${v.blocks.join(", ")} arrived ` +
      `that long after their timestamps), ${limit}: ${fix}, or use a node that sees blocks sooner`;
  }
  return null;
}
