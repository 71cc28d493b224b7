/**
 * btauth/1, the signed-request scheme of bittensor 11 (`bittensor/http_auth.py`), as pure functions:
 * header parsing, the signed payload, signature checks and the replay ledger. The checks run in the
 * SDK's order and refuse with its classes (MalformedAuth, WrongReceiver, StaleRequest, BadSignature,
 * ReplayedRequest as `code`s), so a request the SDK's `verify` accepts passes here and one it refuses
 * fails here for the same reason (tests/axon_btauth_corpus_test.ts runs one corpus through both). Split
 * in stages so the server can put its blacklist between the cheap checks and the signature: `claim`
 * (no crypto), `checkSignature`, then `recordNonce`. Nothing here throws on bad input.
 */
import { createHash } from "node:crypto";
import { isHex, stringToU8a, u8aConcat } from "@polkadot/util";
import { decodeAddress, ed25519Verify, encodeAddress } from "@polkadot/util-crypto";
// The wasm build of schnorrkel, as the synapse route verifies (core/wallet.ts): ~4x the pure-JS one.
import { sr25519Verify, waitReady } from "@polkadot/wasm-crypto";
import { SS58_PREFIX } from "../../core/wallet.ts";

await waitReady();

export const BTAUTH_PROTOCOL = "btauth/1";
/** The SDK's `DEFAULT_MAX_AGE` (10 s) and `DEFAULT_ALLOWED_SKEW` (2 s), in ns. */
export const MAX_AGE_NS = 10_000_000_000n;
export const ALLOWED_SKEW_NS = 2_000_000_000n;
/** The SDK's `InMemoryNonceStore` retention: a (hotkey, nonce) pair is remembered this long. */
export const REPLAY_RETENTION_MS = 60_000;
/** CPython refuses `int()` of a longer decimal string (`sys.int_info.str_digits_check_threshold`). */
const PY_MAX_INT_DIGITS = 4_300;

export type Scheme = "sr25519" | "ed25519";
export type BtauthCode =
  | "malformed_auth"
  | "wrong_receiver"
  | "stale_request"
  | "bad_signature"
  | "replayed_request";
export type BtauthRefusal = { ok: false; code: BtauthCode; message: string };

/** The auth headers of one request, parsed as the SDK's `verify` reads them. */
export interface BtauthHeaders {
  readonly sender: string;
  readonly nonce: bigint;
  readonly scheme: Scheme;
  readonly signature: Uint8Array;
  /** Null when the header is absent (refused: this miner requires receiver-bound requests). */
  readonly receiver: string | null;
}

/** A request whose headers passed every check short of the signature: who it claims to be. */
export interface Claim extends BtauthHeaders {
  readonly publicKey: Uint8Array;
  /** The sender's ss58 in the Bittensor format (prefix 42): the key the metagraph and tasks use. */
  readonly hotkey: string;
}

/** Headers as a `Headers` object or a plain record (any case; the last of two spellings wins, as in the SDK). */
export type HeaderSource = Headers | Readonly<Record<string, string>>;

const refuse = (code: BtauthCode, message: string): BtauthRefusal => ({ ok: false, code, message });

function lowered(src: HeaderSource): (name: string) => string | null {
  if (src instanceof Headers) return (n) => src.get(n);
  const map = new Map(Object.entries(src).map(([k, v]) => [k.toLowerCase(), v]));
  return (n) => map.get(n) ?? null;
}

/** Whether a request speaks btauth/1 (rather than the 10.x synapse protocol): it names a version. */
export function isBtauthRequest(headers: Headers): boolean {
  return headers.has("x-bittensor-version");
}

/** Python `int(raw)` for a decimal string; null where Python raises ValueError. */
function pyInt(raw: string): bigint | null {
  const s = raw.trim();
  if (!/^[+-]?\d(?:_?\d)*$/.test(s)) return null;
  const digits = s.replace(/^[+-]/, "").replaceAll("_", "");
  return digits.length > PY_MAX_INT_DIGITS ? null : BigInt(s.replaceAll("_", ""));
}

/** Python `bytes.fromhex(raw.removeprefix("0x"))`: ASCII whitespace may sit between byte pairs. */
function fromHex(raw: string): Uint8Array | null {
  const s = raw.startsWith("0x") ? raw.slice(2) : raw;
  const out: number[] = [];
  for (let i = 0; i < s.length;) {
    if (/[ \t\n\v\f\r]/.test(s[i])) {
      i++;
      continue;
    }
    const pair = s.slice(i, i + 2);
    if (!/^[0-9a-fA-F]{2}$/.test(pair)) return null;
    out.push(parseInt(pair, 16));
    i += 2;
  }
  return new Uint8Array(out);
}

/** The SDK's `parse_crypto_type`: a scheme name in any case, or its number (ed25519 = 0, sr25519 = 1). */
function parseScheme(raw: string): Scheme | null {
  const s = raw.trim().toLowerCase();
  if (s === "sr25519" || s === "ed25519") return s;
  if (!/^\d+$/.test(s)) return null;
  const n = BigInt(s);
  return n === 0n ? "ed25519" : n === 1n ? "sr25519" : null;
}

/** Header shape, as the first block of the SDK's `verify` (every refusal is `malformed_auth`). */
export function parseBtauthHeaders(src: HeaderSource): { ok: true; headers: BtauthHeaders } | BtauthRefusal {
  const get = lowered(src);
  if (get("x-bittensor-version") !== "1") {
    return refuse("malformed_auth", "Missing or unsupported X-Bittensor-Version (expected '1')");
  }
  const sender = get("x-bittensor-hotkey");
  if (!sender) return refuse("malformed_auth", "Missing X-Bittensor-Hotkey");
  const rawNonce = get("x-bittensor-nonce");
  if (rawNonce === null) return refuse("malformed_auth", "Missing X-Bittensor-Nonce");
  const nonce = pyInt(rawNonce);
  if (nonce === null) return refuse("malformed_auth", "X-Bittensor-Nonce is not a decimal integer");
  const scheme = parseScheme(get("x-bittensor-crypto") ?? "sr25519");
  if (scheme === null) return refuse("malformed_auth", "Unsupported X-Bittensor-Crypto");
  const rawSignature = get("x-bittensor-signature");
  if (rawSignature === null) return refuse("malformed_auth", "Missing X-Bittensor-Signature");
  const signature = fromHex(rawSignature);
  if (signature === null) return refuse("malformed_auth", "X-Bittensor-Signature is not hex");
  return { ok: true, headers: { sender, nonce, scheme, signature, receiver: get("x-bittensor-receiver") } };
}

/**
 * Everything short of the signature, in the SDK's order: receiver, freshness, then the sender's
 * address and the signature's length (what the SDK's `sp_core.verify` refuses before any crypto).
 */
export function checkClaim(
  h: BtauthHeaders,
  self: string,
  nowNs: bigint,
): { ok: true; claim: Claim } | BtauthRefusal {
  if (h.receiver === null) {
    return refuse(
      "wrong_receiver",
      "Missing X-Bittensor-Receiver: this miner requires receiver-bound requests",
    );
  }
  if (h.receiver !== self) {
    return refuse("wrong_receiver", "The request was signed for a different receiving hotkey");
  }
  if (nowNs - h.nonce > MAX_AGE_NS) {
    return refuse("stale_request", "Nonce is older than the 10s freshness window");
  }
  if (h.nonce - nowNs > ALLOWED_SKEW_NS) {
    return refuse("stale_request", "Nonce is more than 2s in the future");
  }
  const publicKey = decodeSs58(h.sender);
  if (publicKey === null || h.signature.length !== 64) {
    return refuse("malformed_auth", "Invalid hotkey address or signature encoding");
  }
  return { ok: true, claim: { ...h, publicKey, hotkey: encodeAddress(publicKey, SS58_PREFIX) } };
}

/** The 32-byte account of an ss58 address (any prefix, checksum checked); null otherwise. */
function decodeSs58(ss58: string): Uint8Array | null {
  if (isHex(ss58)) return null; // decodeAddress takes hex keys too; an ss58 decoder does not
  try {
    const key = decodeAddress(ss58);
    return key.length === 32 ? key : null;
  } catch {
    return null;
  }
}

/** What was signed besides the headers: the request line and the raw body. */
export interface SignedRequest {
  readonly method: string;
  /** The request target exactly as sent: path plus `?query`, not normalised. */
  readonly target: string;
  readonly body: Uint8Array;
}

/** The SDK's `build_payload`: eight UTF-8 lines joined by "\n", no trailing newline. */
export function btauthPayload(
  h: Pick<BtauthHeaders, "sender" | "nonce" | "scheme" | "receiver">,
  req: SignedRequest,
): Uint8Array {
  const lines = [
    BTAUTH_PROTOCOL,
    h.scheme,
    req.method.toUpperCase(),
    req.target,
    createHash("sha256").update(req.body).digest("hex"),
    h.nonce.toString(),
    h.sender,
    h.receiver || "-",
  ];
  return stringToU8a(lines.join("\n"));
}

const BYTES_OPEN = stringToU8a("<Bytes>");
const BYTES_CLOSE = stringToU8a("</Bytes>");

/**
 * The signature over the payload under the declared scheme only (never both), or over
 * `<Bytes>` + payload + `</Bytes>` (what wallet extensions sign), as the SDK's verifier accepts.
 */
export function checkSignature(claim: Claim, req: SignedRequest): { ok: true } | BtauthRefusal {
  const payload = btauthPayload(claim, req);
  const wrapped = () => u8aConcat(BYTES_OPEN, payload, BYTES_CLOSE);
  const check = claim.scheme === "sr25519"
    ? (m: Uint8Array) => sr25519Verify(claim.signature, m, claim.publicKey)
    : (m: Uint8Array) => ed25519Verify(m, claim.signature, claim.publicKey);
  if (check(payload) || check(wrapped())) return { ok: true };
  return refuse("bad_signature", "The signature does not verify against the claimed hotkey");
}

/**
 * The SDK's `InMemoryNonceStore`: (sender, nonce) pairs accepted in the last `REPLAY_RETENTION_MS`,
 * key → expiry (ms) in insertion order, so expired entries are dropped from the front.
 */
export type ReplayLedger = Map<string, number>;

/** Drops entries past their retention. */
export function pruneLedger(ledger: ReplayLedger, nowMs: number): void {
  for (const [key, expiry] of ledger) {
    if (expiry > nowMs) return;
    ledger.delete(key);
  }
}

/**
 * Records the pair after its signature verified (so unsigned traffic cannot poison it); `replayed`
 * if it was already there, `full` when `max` live entries leave no room: refusing then is safe, while
 * dropping a live entry would let its request be replayed.
 */
export function recordNonce(
  ledger: ReplayLedger,
  claim: Pick<Claim, "sender" | "nonce">,
  nowMs: number,
  max: number,
): "recorded" | "replayed" | "full" {
  pruneLedger(ledger, nowMs);
  const key = `${claim.sender} ${claim.nonce}`;
  if (ledger.has(key)) return "replayed";
  if (ledger.size >= max) return "full";
  ledger.set(key, nowMs + REPLAY_RETENTION_MS);
  return "recorded";
}

/** The SDK's whole `verify`, stages in order: for the corpus test and callers without a blacklist. */
export function verifyBtauth(
  headers: HeaderSource,
  req: SignedRequest,
  ctx: { self: string; nowNs: bigint; ledger: ReplayLedger },
): { ok: true; claim: Claim } | BtauthRefusal {
  const parsed = parseBtauthHeaders(headers);
  if (!parsed.ok) return parsed;
  const claimed = checkClaim(parsed.headers, ctx.self, ctx.nowNs);
  if (!claimed.ok) return claimed;
  const signed = checkSignature(claimed.claim, req);
  if (!signed.ok) return signed;
  const nowMs = Number(ctx.nowNs / 1_000_000n);
  if (recordNonce(ctx.ledger, claimed.claim, nowMs, Infinity) === "replayed") {
    return refuse("replayed_request", "This nonce was already accepted from this hotkey");
  }
  return claimed;
}
