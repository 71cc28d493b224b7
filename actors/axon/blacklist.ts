/**
 * Who may call the axon: the blacklist decision from the metagraph facts (registered, validator permit,
 * stake at least `miner.min_stake`) and a per-hotkey token bucket. The bucket is checked before the
 * signature is verified (so a flood costs no crypto) but a token is only taken after it verified, so a
 * stranger who writes a validator's hotkey into the header cannot drain that validator's budget. Pure.
 */

import type { HotkeyFacts } from "../protocol.ts";

export interface BlacklistRules {
  readonly minStakeTao: number;
  /** Demand a validator permit (the template miner's `force_validator_permit`). Default true. */
  readonly requirePermit: boolean;
}

/** Why a hotkey is refused: a code for the task API's JSON errors and the SDK-style reason text. */
export type BlacklistVerdict = {
  code: "not_registered" | "not_a_validator" | "stake_too_low";
  reason: string;
};

/** The one blacklist rule both wire formats apply; null lets the hotkey in. */
export function blacklistVerdict(facts: HotkeyFacts, rules: BlacklistRules): BlacklistVerdict | null {
  if (!facts.registered) return { code: "not_registered", reason: "Unrecognized hotkey" };
  if (rules.requirePermit && !facts.validatorPermit) {
    return { code: "not_a_validator", reason: "Non-validator hotkey" };
  }
  if (!(facts.stakeTao >= rules.minStakeTao)) {
    const reason = `Stake ${facts.stakeTao} TAO is below the minimum ${rules.minStakeTao} TAO`;
    return { code: "stake_too_low", reason };
  }
  return null;
}

/** The SDK's blacklist result: `[true, reason]` refuses with 403 "Forbidden. Key is blacklisted: {reason}.". */
export function blacklistReason(facts: HotkeyFacts, rules: BlacklistRules): string | null {
  return blacklistVerdict(facts, rules)?.reason ?? null;
}

export interface RateLimit {
  /** Requests a hotkey may send at once. */
  readonly burst: number;
  /** Refill rate, requests per second. */
  readonly perSecond: number;
}

export const DEFAULT_RATE_LIMIT: RateLimit = { burst: 30, perSecond: 2 };

type Bucket = { tokens: number; atMs: number };
export type Buckets = Map<string, Bucket>;

function level(b: Bucket | undefined, limit: RateLimit, nowMs: number): number {
  if (!b) return limit.burst;
  return Math.min(limit.burst, b.tokens + (Math.max(0, nowMs - b.atMs) / 1000) * limit.perSecond);
}

/** Whether `hotkey` has a token left now (nothing is taken). */
export function hasToken(buckets: Buckets, hotkey: string, limit: RateLimit, nowMs: number): boolean {
  return level(buckets.get(hotkey), limit, nowMs) >= 1;
}

/** Takes one token (after the request verified); may go below zero under concurrency, then refills. */
export function takeToken(buckets: Buckets, hotkey: string, limit: RateLimit, nowMs: number): void {
  buckets.set(hotkey, { tokens: level(buckets.get(hotkey), limit, nowMs) - 1, atMs: nowMs });
}

/** Drops buckets that have refilled completely: they hold nothing a fresh bucket would not. */
export function pruneBuckets(buckets: Buckets, limit: RateLimit, nowMs: number): void {
  for (const [k, b] of buckets) if (level(b, limit, nowMs) >= limit.burst) buckets.delete(k);
}

export function rateLimitReason(limit: RateLimit): string {
  return `Rate limit exceeded (burst ${limit.burst}, ${limit.perSecond} requests per second)`;
}
