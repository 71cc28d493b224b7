/**
 * Request signing for the task center, Bittensor-style (see docs/task-center.openapi.yml): the
 * miner's hotkey signs (sr25519) `nonce.hotkey.METHOD.path.body_sha256`, so a request cannot be
 * replayed, re-aimed at another endpoint or given another body. Pure: the client signs with it and
 * the local task center verifies with the same functions, so the two cannot drift apart.
 */
import { createHash } from "node:crypto";
import { verify } from "../../core/wallet.ts";

export const HEADER_HOTKEY = "x-satori-hotkey";
export const HEADER_NONCE = "x-satori-nonce";
export const HEADER_BODY_SHA256 = "x-satori-body-sha256";
export const HEADER_SIGNATURE = "x-satori-signature";

/** What can sign: `core/wallet.ts` Wallet fits, and tests pass a keyring pair wrapper. */
export interface Signer {
  readonly hotkey: { readonly ss58: string };
  sign(message: string): string;
}

export type SignedHeaders = Record<
  typeof HEADER_HOTKEY | typeof HEADER_NONCE | typeof HEADER_BODY_SHA256 | typeof HEADER_SIGNATURE,
  string
>;

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The exact string that is signed; `path` is the URL path plus its query string. */
export function signedMessage(
  nonce: string,
  hotkey: string,
  method: string,
  path: string,
  bodySha256: string,
): string {
  return `${nonce}.${hotkey}.${method.toUpperCase()}.${path}.${bodySha256}`;
}

/**
 * Nonces are nanoseconds since the epoch as decimal strings (like `time.time_ns()` in the SDK), made
 * strictly increasing per signer so two requests in the same millisecond never share one.
 */
export function nonceSource(now: () => number): () => string {
  let last = 0n;
  return () => {
    const ns = BigInt(Math.floor(now())) * 1_000_000n;
    last = ns > last ? ns : last + 1n;
    return last.toString();
  };
}

export function signRequest(
  signer: Signer,
  nonce: string,
  method: string,
  path: string,
  body: Uint8Array | string,
): SignedHeaders {
  const bodySha = sha256Hex(body);
  const hotkey = signer.hotkey.ss58;
  return {
    [HEADER_HOTKEY]: hotkey,
    [HEADER_NONCE]: nonce,
    [HEADER_BODY_SHA256]: bodySha,
    [HEADER_SIGNATURE]: signer.sign(signedMessage(nonce, hotkey, method, path, bodySha)),
  };
}

export type VerifyFailure =
  | "missing_headers"
  | "bad_nonce"
  | "body_hash_mismatch"
  | "bad_signature"
  | "unknown_hotkey"
  | "nonce_out_of_window"
  | "nonce_replayed";

export type VerifyResult = { ok: true; hotkey: string; nonce: bigint } | {
  ok: false;
  reason: VerifyFailure;
  message: string;
};

export interface VerifyOptions {
  /** Hotkeys allowed to call; anything else is refused after the signature checks out. */
  known: ReadonlySet<string>;
  nowMs: number;
  /** A nonce more than this far from `nowMs` (either way) is refused: bounds the replay memory. */
  windowMs: number;
  /** Nonces already accepted per hotkey inside the window; this function records into it. */
  seen: Map<string, Map<string, number>>;
}

/**
 * Checks a request's signed headers against its raw body. Replay protection keeps every accepted
 * nonce for `windowMs` instead of only the last one (the SDK's axon rule), so concurrent requests
 * that arrive out of order are not refused while a repeated nonce always is.
 */
export function verifyRequest(
  headers: Headers,
  method: string,
  path: string,
  body: Uint8Array,
  opts: VerifyOptions,
): VerifyResult {
  const hotkey = headers.get(HEADER_HOTKEY);
  const nonceText = headers.get(HEADER_NONCE);
  const claimed = headers.get(HEADER_BODY_SHA256);
  const signature = headers.get(HEADER_SIGNATURE);
  if (!hotkey || !nonceText || !claimed || !signature) {
    return fail("missing_headers", `Missing one of the signed headers (${HEADER_SIGNATURE} and others)`);
  }
  if (!/^[0-9]{1,25}$/.test(nonceText)) return fail("bad_nonce", `Nonce "${nonceText}" is not an integer`);
  const actual = sha256Hex(body);
  if (actual !== claimed) {
    return fail("body_hash_mismatch", `Body sha256 is ${actual}, header says ${claimed}`);
  }
  if (!verify(signedMessage(nonceText, hotkey, method, path, actual), signature, hotkey)) {
    return fail("bad_signature", `Signature does not verify for hotkey "${hotkey}"`);
  }
  if (!opts.known.has(hotkey)) return fail("unknown_hotkey", `Hotkey "${hotkey}" is not a known miner`);
  const nonce = BigInt(nonceText);
  const ageMs = Number((BigInt(opts.nowMs) * 1_000_000n - nonce) / 1_000_000n);
  if (Math.abs(ageMs) > opts.windowMs) {
    return fail("nonce_out_of_window", `Nonce is ${ageMs} ms from server time (allowed ±${opts.windowMs})`);
  }
  const seen = opts.seen.get(hotkey) ?? new Map<string, number>();
  for (const [n, at] of seen) if (opts.nowMs - at > 2 * opts.windowMs) seen.delete(n);
  if (seen.has(nonceText)) return fail("nonce_replayed", `Nonce ${nonceText} was already used`);
  seen.set(nonceText, opts.nowMs);
  opts.seen.set(hotkey, seen);
  return { ok: true, hotkey, nonce };
}

function fail(reason: VerifyFailure, message: string): VerifyResult {
  return { ok: false, reason, message };
}
