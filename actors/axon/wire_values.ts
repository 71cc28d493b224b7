/**
 * Value-level helpers of the axon protocol: Python `int()` / `float()` parsing of header values (what
 * pydantic applies in `Synapse.from_headers`), and the header map and JSON body a bittensor 10.x dendrite
 * sends. Pure, no I/O.
 */
import { PyFloat, pyFloatRepr, type PyValue } from "./body_hash.ts";
import type { SignRequest } from "./wire.ts";

// Python's int()/float() accept surrounding whitespace, a sign and single underscores between digits.
const DIGITS = String.raw`\d(?:_?\d)*`;
const PY_INT = new RegExp(`^[+-]?${DIGITS}$`);
const PY_FLOAT = new RegExp(`^[+-]?(?:(?:${DIGITS})?\\.${DIGITS}|${DIGITS}\\.?)(?:[eE][+-]?${DIGITS})?$`);
const PY_FLOAT_SPECIAL = /^[+-]?(?:inf|infinity|nan)$/i;

/** Python `int(raw)` for ASCII digits; null where Python would raise (or the text is not ASCII). */
export function parsePyInt(raw: string): bigint | null {
  const s = raw.trim();
  if (!PY_INT.test(s)) return null;
  return BigInt(s.replaceAll("_", ""));
}

/** Python `float(raw)`: null where Python would raise; "inf"/"nan" give non-finite numbers. */
export function parsePyFloat(raw: string): number | null {
  const s = raw.trim();
  if (PY_FLOAT_SPECIAL.test(s)) {
    const neg = s.startsWith("-");
    return /nan/i.test(s) ? NaN : neg ? -Infinity : Infinity;
  }
  if (!PY_FLOAT.test(s)) return null;
  return Number(s.replaceAll("_", ""));
}

/** `json.dumps(type(value)())` base64-encoded: the empty value that lets `from_headers` build the class. */
function emptyValueHeader(value: PyValue): string {
  let empty: string;
  if (typeof value === "string") empty = '""';
  else if (typeof value === "boolean") empty = "false";
  else if (value instanceof PyFloat) empty = "0.0";
  else if (typeof value === "number" || typeof value === "bigint") {
    empty = Number.isInteger(value) ? "0" : "0.0";
  } else if (Array.isArray(value)) empty = "[]";
  else if (value === null) empty = "null";
  else empty = "{}";
  return btoa(empty);
}

/** The header map of `synapse.to_headers()` (TerminalInfo fields in model order, non-None only). */
export function buildHeaderValues(
  req: SignRequest,
  hash: string,
  signature: string,
  bodyBytes: number,
): Record<string, string> {
  const h: Record<string, string> = {
    name: req.synapseName,
    timeout: pyFloatRepr(req.timeout),
    bt_header_axon_ip: req.axon.ip,
    bt_header_axon_port: String(req.axon.port),
    bt_header_axon_hotkey: req.axon.hotkey,
    bt_header_dendrite_ip: req.dendrite.ip,
    bt_header_dendrite_version: String(req.dendrite.version),
    bt_header_dendrite_nonce: req.nonceNs.toString(),
    bt_header_dendrite_uuid: req.dendrite.uuid,
    bt_header_dendrite_hotkey: req.dendrite.hotkey,
    bt_header_dendrite_signature: signature,
  };
  for (const f of req.requiredFields ?? []) {
    const v = req.fields[f];
    if (v !== undefined && v !== null) h[`bt_header_input_obj_${f}`] = emptyValueHeader(v);
  }
  // The SDK sends Python object sizes here (sys.getsizeof): nothing reads them, so send byte counts.
  h.header_size = String(Object.entries(h).reduce((n, [k, v]) => n + k.length + v.length, 0));
  h.total_size = String(bodyBytes);
  h.computed_body_hash = hash;
  return h;
}

/** JSON value of a PyValue: `PyFloat` becomes its number (pydantic accepts `1` for a float field). */
function toJson(v: PyValue): unknown {
  if (v instanceof PyFloat) return v.value;
  if (typeof v === "bigint") return Number(v);
  if (Array.isArray(v)) return v.map(toJson);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v as Record<string, PyValue>).map(([k, x]) => [k, toJson(x)]));
  }
  return v;
}

/**
 * The JSON body a bittensor dendrite posts: `synapse.model_dump()` after signing, with `computed_body_hash`
 * left at its frozen default "" (the real hash travels in the header).
 */
export function requestBody(req: SignRequest, signature: string): string {
  const fields = toJson(req.fields as PyValue) as Record<string, unknown>;
  const json = JSON.stringify({
    name: req.synapseName,
    timeout: req.timeout,
    total_size: 0,
    header_size: 0,
    dendrite: {
      status_code: null,
      status_message: null,
      process_time: null,
      ip: req.dendrite.ip,
      port: null,
      version: req.dendrite.version,
      nonce: NONCE_SLOT, // a ns timestamp exceeds 2^53: spliced in as exact digits below
      uuid: req.dendrite.uuid,
      hotkey: req.dendrite.hotkey,
      signature,
    },
    axon: {
      status_code: null,
      status_message: null,
      process_time: null,
      ip: req.axon.ip,
      port: req.axon.port,
      version: null,
      nonce: null,
      uuid: null,
      hotkey: req.axon.hotkey,
      signature: null,
    },
    computed_body_hash: "",
    ...fields,
  });
  return json.replace(`"${NONCE_SLOT}"`, req.nonceNs.toString());
}

const NONCE_SLOT = "__satori_dendrite_nonce__";
