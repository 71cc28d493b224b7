/**
 * The Bittensor axon/dendrite request protocol (bittensor 10.x `Synapse.to_headers`, `Dendrite.
 * preprocess_synapse_for_request`, `Axon.default_verify`), as pure functions: parse and verify request
 * headers on the axon side, build signed headers on the dendrite side. No I/O: the clock, the nonce store
 * and the signer are passed in; every outcome is a result value, nothing throws on bad input.
 */
import { bodyHash, type PyValue } from "./body_hash.ts";
import { isValidSs58, verify } from "../../core/wallet.ts";
import { buildHeaderValues, parsePyFloat, parsePyInt, requestBody } from "./wire_values.ts";

/** `ALLOWED_DELTA` of bittensor/utils/axon_utils.py: 4 s of clock skew and transit, in ns. */
export const ALLOWED_DELTA_NS = 4_000_000_000n;
/** `V_7_2_0` in bittensor/core/axon.py: the SDK skips the window below it; we never do (see verifyRequest). */
export const NONCE_TIME_VERSION = 7_002_000;
/** Synapse's default `timeout` (seconds) when the header is absent. */
export const DEFAULT_TIMEOUT_S = 12;
/**
 * Cap on the `timeout` header used in the freshness window. The header is not signed, so without a cap a
 * replayed request could claim a huge timeout and pass the first-request window after our restart.
 */
export const MAX_WINDOW_TIMEOUT_S = 120;

/** The request facts taken from the headers (names as the SDK writes them, lowercase). */
export interface RequestHeaders {
  readonly name: string | null;
  readonly timeout: number;
  readonly computedBodyHash: string;
  readonly axonHotkey: string | null;
  readonly dendrite: {
    readonly hotkey: string | null;
    /** Parsed like Python `int()`; printed back in decimal into the signed message, as the SDK does. */
    readonly nonce: bigint | null;
    readonly uuid: string | null;
    readonly signature: string | null;
    readonly version: number | null;
    readonly ip: string | null;
  };
}

export type Refusal = { ok: false; status: 400 | 401; header: string | null; message: string };
export type Parsed = { ok: true; headers: RequestHeaders } | Refusal;

/** A read-only view of headers: a `Headers` object or a plain record (lowercase keys). */
export type HeaderSource = Headers | Readonly<Record<string, string | undefined>>;

function getter(src: HeaderSource): (name: string) => string | null {
  if (src instanceof Headers) return (n) => src.get(n);
  return (n) => {
    const v = src[n];
    return typeof v === "string" ? v : null;
  };
}

function bad(status: 400 | 401, header: string | null, message: string): Refusal {
  return { ok: false, status, header, message };
}

/**
 * Parses the request headers like `Synapse.from_headers` (Python `int()` / `float()` rules). Malformed
 * numbers are a 400 naming the header; a non-finite or negative `timeout` too (it widens the nonce window).
 */
export function parseRequestHeaders(src: HeaderSource): Parsed {
  const get = getter(src);
  const int = (h: string): bigint | null | Refusal => {
    const raw = get(h);
    if (raw === null) return null;
    const v = parsePyInt(raw);
    return v === null ? bad(400, h, `Header "${h}" is not an integer`) : v;
  };
  const nonce = int("bt_header_dendrite_nonce");
  if (typeof nonce === "object" && nonce !== null) return nonce;
  const version = int("bt_header_dendrite_version");
  if (typeof version === "object" && version !== null) return version;
  const rawTimeout = get("timeout");
  let timeout = DEFAULT_TIMEOUT_S;
  if (rawTimeout !== null) {
    const t = parsePyFloat(rawTimeout);
    if (t === null || !Number.isFinite(t) || t < 0) {
      return bad(400, "timeout", `Header "timeout" is not a finite non-negative number`);
    }
    timeout = t;
  }
  return {
    ok: true,
    headers: {
      name: get("name"),
      timeout,
      computedBodyHash: get("computed_body_hash") ?? "",
      axonHotkey: get("bt_header_axon_hotkey"),
      dendrite: {
        hotkey: get("bt_header_dendrite_hotkey"),
        nonce,
        uuid: get("bt_header_dendrite_uuid"),
        signature: get("bt_header_dendrite_signature"),
        version: version === null ? null : Number(version),
        ip: get("bt_header_dendrite_ip"),
      },
    },
  };
}

/** The string the dendrite signs: `{nonce}.{dendrite_hotkey}.{axon_hotkey}.{uuid}.{body_hash}`. */
export function signedMessage(
  nonce: bigint,
  dendriteHotkey: string,
  axonHotkey: string,
  uuid: string,
  computedBodyHash: string,
): string {
  return `${nonce}.${dendriteHotkey}.${axonHotkey}.${uuid}.${computedBodyHash}`;
}

/** Last accepted nonce per `hotkey:uuid` (the SDK's `Axon.nonces`), owned by the caller. */
export type NonceStore = ReadonlyMap<string, bigint>;

export interface VerifyContext {
  /** This axon's own hotkey: the SDK signs its own ss58 into third position, not the header's. */
  readonly axonHotkey: string;
  readonly nonces: NonceStore;
  readonly nowNs: bigint;
}

export type Verified = { ok: true; endpointKey: string; nonce: bigint; hotkey: string };

/**
 * `Axon.default_verify`, stricter: a missing signature is refused, and the time window applies to every
 * first request whatever `bt_header_dendrite_version` says (that header is unsigned and could switch the
 * window off). On success the caller records `nonce` under `endpointKey` (see `recordNonce`).
 */
export function verifyRequest(req: RequestHeaders, ctx: VerifyContext): Verified | Refusal {
  const { hotkey, nonce, uuid, signature } = req.dendrite;
  const notVerified = (header: string, why: string) => bad(401, header, `Not Verified with error: ${why}`);
  if (hotkey === null || !isValidSs58(hotkey)) {
    return notVerified("bt_header_dendrite_hotkey", hotkey === null ? "Missing Hotkey" : "Invalid Hotkey");
  }
  if (nonce === null) return notVerified("bt_header_dendrite_nonce", "Missing Nonce");
  if (uuid === null) return notVerified("bt_header_dendrite_uuid", "Missing Uuid");
  const endpointKey = `${hotkey}:${uuid}`;
  const last = ctx.nonces.get(endpointKey);
  if (last === undefined) {
    const windowNs = ALLOWED_DELTA_NS + timeoutNs(req.timeout);
    if (nonce <= ctx.nowNs - windowNs) {
      const age = Number(ctx.nowNs - nonce) / 1e9;
      return notVerified(
        "bt_header_dendrite_nonce",
        `Nonce is too old: acceptable delta is ${(Number(windowNs) / 1e9).toFixed(2)} seconds ` +
          `but request was ${age.toFixed(2)} seconds old`,
      );
    }
  } else if (nonce <= last) {
    return notVerified("bt_header_dendrite_nonce", "Nonce is too old, a newer one was last processed");
  }
  if (!signature) return notVerified("bt_header_dendrite_signature", "Missing Signature");
  const message = signedMessage(nonce, hotkey, ctx.axonHotkey, uuid, req.computedBodyHash);
  if (!verify(message, signature, hotkey)) {
    return notVerified("bt_header_dendrite_signature", "Signature mismatch");
  }
  return { ok: true, endpointKey, nonce, hotkey };
}

function timeoutNs(timeoutS: number): bigint {
  return BigInt(Math.round(Math.min(timeoutS, MAX_WINDOW_TIMEOUT_S) * 1e9));
}

/** A new store with `nonce` recorded for `endpointKey` (the SDK's `self.nonces[key] = nonce`). */
export function recordNonce(
  store: NonceStore,
  v: Pick<Verified, "endpointKey" | "nonce">,
): Map<string, bigint> {
  return new Map(store).set(v.endpointKey, v.nonce);
}

/**
 * A new store without entries too old to matter: a replay of a dropped nonce fails the first-request
 * window anyway, because the window is capped at `MAX_WINDOW_TIMEOUT_S`. Bounds memory across restarts
 * of validators (each dendrite instance has a new uuid).
 */
export function pruneNonces(store: NonceStore, nowNs: bigint): Map<string, bigint> {
  const cutoff = nowNs - ALLOWED_DELTA_NS - timeoutNs(MAX_WINDOW_TIMEOUT_S);
  return new Map([...store].filter(([, n]) => n > cutoff));
}

/**
 * The SDK's body-integrity check (`Axon.verify_body_integrity`), as a refusal instead of its HTTP 500:
 * `values` are the body's `required_hash_fields` values in order (wrap float fields in `PyFloat`).
 */
export function verifyBodyHash(req: RequestHeaders, values: readonly PyValue[]): { ok: true } | Refusal {
  const parsed = bodyHash(values);
  if (parsed === req.computedBodyHash) return { ok: true };
  return bad(
    401,
    "computed_body_hash",
    `Not Verified with error: Hash mismatch between header body hash ${req.computedBodyHash} ` +
      `and parsed body hash ${parsed}`,
  );
}

/** What a dendrite needs to sign a request (our test validator and the task-center client). */
export interface SignRequest {
  readonly synapseName: string;
  readonly timeout: number;
  readonly axon: { readonly ip: string; readonly port: number; readonly hotkey: string };
  readonly dendrite: {
    readonly ip: string;
    readonly uuid: string;
    readonly version: number;
    readonly hotkey: string;
  };
  readonly nonceNs: bigint;
  /** The synapse's own fields in declaration order (floats wrapped in `PyFloat`). */
  readonly fields: Readonly<Record<string, PyValue>>;
  /** The class's `required_hash_fields`, in order. */
  readonly hashFields: readonly string[];
  /** Fields without a default: they get `bt_header_input_obj_<field>` headers, as in `to_headers()`. */
  readonly requiredFields?: readonly string[];
}

/**
 * Builds what a bittensor dendrite sends after `preprocess_synapse_for_request`: the `synapse.to_headers()`
 * map and the JSON body (`synapse.model_dump()`), signed with `sign` (e.g. `(m) => wallet.sign(m)`).
 */
export function buildRequest(
  req: SignRequest,
  sign: (message: string) => string,
): { headers: Record<string, string>; body: string } {
  const hash = bodyHash(req.hashFields.map((f) => req.fields[f] ?? null));
  const message = signedMessage(req.nonceNs, req.dendrite.hotkey, req.axon.hotkey, req.dendrite.uuid, hash);
  const signature = sign(message);
  const body = requestBody(req, signature);
  const bodyBytes = new TextEncoder().encode(body).length;
  return { headers: buildHeaderValues(req, hash, signature, bodyBytes), body };
}
