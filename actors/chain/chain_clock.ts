/**
 * The ChainActor's start-up clock check: for the first few fresh blocks after connecting, read the block's
 * `Timestamp.Now` and compare it with when its header arrived (clock_skew.ts says why fresh ones). Warns
 * once when the local clock is off by more than 1 s; a clock within that is only a debug line. Runs once
 * per actor start, in the background: it never delays serving or syncing.
 */
import { readBlockTimestamp } from "./chain_client.ts";
import { background, type ChainState, type Private } from "./chain_state.ts";
import { CLOCK_SAMPLES, CLOCK_TOLERANCE_MS, clockWarning, judgeClock } from "./clock_skew.ts";

type Head = Extract<Private, { type: "head" }>;
type ClockRead = Extract<Private, { type: "clockRead" }>;

/** On a new head: when it is fresh (a higher block than the last this connection saw), read its timestamp. */
export function onClockHead(state: ChainState, head: Head): void {
  const check = state.clockCheck;
  const fresh = check.lastBlock !== null && head.block > check.lastBlock;
  check.lastBlock = Math.max(head.block, check.lastBlock ?? head.block);
  if (check.done || !fresh) return;
  const { api, block, seenMs } = head;
  background(
    state,
    readBlockTimestamp(api, head.hash),
    (chainMs) => ({ type: "clockRead", api, block, seenMs, chainMs }),
    () => ({ type: "clockRead", api, block, seenMs, chainMs: null }),
  );
}

export function onClockRead(state: ChainState, msg: ClockRead): void {
  const check = state.clockCheck;
  if (msg.api !== state.api || check.done) return;
  if (msg.chainMs === null) {
    return state.log.debug("Cannot read Timestamp.Now of block {block}; the clock check waits for the next", {
      block: msg.block,
    });
  }
  check.samples.push({ block: msg.block, chainMs: msg.chainMs, seenMs: msg.seenMs });
  const verdict = judgeClock(check.samples, { want: state.deps.clockSamples ?? CLOCK_SAMPLES });
  if (verdict.kind === "pending") return;
  check.done = true;
  const warning = clockWarning(verdict);
  if (warning !== null) return state.log.warn("{warning}", { warning });
  if (verdict.kind === "ok") {
    state.log.debug("Local clock agrees with the chain within {tolerance} s (blocks {blocks}: {offset} ms)", {
      tolerance: CLOCK_TOLERANCE_MS / 1000,
      blocks: verdict.blocks.join(", "),
      offset: verdict.offsetMs,
    });
  }
}
