/**
 * Caps on what the axon holds per sender. Anyone may ping (`Synapse` has no blacklist, as in the SDK)
 * and sr25519 hotkeys cost nothing to make, so every map keyed by a verified sender would otherwise grow
 * with the flood: about 2 000 verified requests a second, each a nonce key (kept 124 s, the longest
 * first-request window), a rate bucket and a cached signature (kept until the minute's prune). Validator
 * synapses pass the blacklist first, so their nonce keys are bounded by the metagraph and the rate limit
 * and are never evicted: evicting one could let a captured request be replayed inside its window.
 */

/** Nonce keys of senders no blacklist checked (pings): a replay of an evicted one is only a ping. */
export const MAX_OPEN_NONCE_KEYS = 20_000;
/** Rate buckets: an evicted one refills at once, which only lets that hotkey send a burst again. */
export const MAX_RATE_BUCKETS = 20_000;
/**
 * btauth/1 (sender, nonce) pairs kept for their 60 s retention (btauth.ts). Recorded only for senders
 * that passed the blacklist and the rate limit (burst 30, 2/s: at most 150 a minute each), so the
 * metagraph bounds them; past the cap a request is refused (503), never an entry dropped: a dropped
 * entry would let its request be replayed inside the freshness window.
 */
export const MAX_BTAUTH_NONCES = 100_000;
/** Our reply signatures cached per sender (handler.ts): a cache, so dropping entries costs a signing. */
export const MAX_CACHED_SIGNATURES = 1_024;

/** Sets `key` as the most recent entry; past `max` entries, drops the least recently set ones. */
export function setBounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  for (const oldest of map.keys()) {
    if (map.size <= max) return;
    map.delete(oldest);
  }
}
