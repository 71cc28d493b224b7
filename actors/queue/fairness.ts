/**
 * How validators share `miner.max_queue_size` (every accepted task not yet training). Each may hold
 * slots in proportion to its stake among the validators with tasks waiting (its own included):
 *   quota = max(min_slots, min(⌊size × max_share⌋, ⌊size × stake ÷ their total stake⌋))
 * With no stake among them, they share equally. `max_share` keeps any one validator from filling the
 * queue alone; `min_slots` keeps a small one from being locked out by the arithmetic; and the last
 * `reserved_slots` free slots go only to validators holding fewer than `min_slots`, so a newcomer
 * finds room even when the others have filled their shares (at most half the queue is kept, so a
 * small queue still serves the validators in it). Quotas move as validators come and go:
 * nothing already admitted is dropped, a validator over its quota just waits for its tasks to train.
 * Refusals give the caller's own numbers and never name another validator. Pure.
 */
import type { Entry } from "./priority.ts";

export type Fairness = { maxShare: number; minSlots: number; reservedSlots: number };

/** The validator asking, with its stake now (from the metagraph). */
export type Asker = { validator: string; stake: number };

export type Quota = {
  /** Tasks the validator holds now, and may hold. */
  held: number;
  quota: number;
  /** Its share of the stake of validators with tasks waiting, in [0, 1]. */
  share: number;
};

/** The quota of `who` given the admitted tasks `entries` (waiting for their dataset, or queued). */
export function quotaOf(entries: Iterable<Entry>, who: Asker, size: number, f: Fairness): Quota {
  const stakes = new Map<string, number>([[who.validator, who.stake]]);
  let held = 0;
  for (const e of entries) {
    if (e.validator === who.validator) held++;
    else stakes.set(e.validator, Math.max(stakes.get(e.validator) ?? 0, e.stake));
  }
  let total = 0;
  for (const s of stakes.values()) total += s;
  const share = total > 0 ? who.stake / total : 1 / stakes.size;
  const quota = Math.max(f.minSlots, Math.min(Math.floor(size * f.maxShare), Math.floor(size * share)));
  return { held, quota, share };
}

/** Why `who` may not take one more slot now, or null. `admitted`: every slot taken, by anyone. */
export function quotaRefusal(
  entries: Iterable<Entry>,
  admitted: number,
  who: Asker,
  size: number,
  f: Fairness,
): string | null {
  const { held, quota, share } = quotaOf(entries, who, size, f);
  const pct = (x: number) => `${Number((x * 100).toFixed(1))}%`;
  if (held >= quota) {
    return `validator quota reached: you hold ${held} of your ${quota} slot(s) ` +
      `(your stake is ${pct(share)} of the stake with tasks waiting; each validator may hold ` +
      `${pct(f.maxShare)} of ${size} slots at most and ${f.minSlots} at least)`;
  }
  const reserved = Math.min(f.reservedSlots, Math.floor(size / 2));
  if (held >= f.minSlots && admitted >= size - reserved) {
    return `validator quota reached: the last ${reserved} free slot(s) of ${size} are kept for ` +
      `validators holding fewer than ${f.minSlots} task(s), and you hold ${held}`;
  }
  return null;
}
