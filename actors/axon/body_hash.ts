/**
 * The Bittensor body hash, byte-exact with the Python SDK (bittensor 10.x `Synapse.body_hash`):
 * sha3_256_hex("".join(sha3_256_hex(str(model_dump()[f])) for f in required_hash_fields)).
 * `pyStr` reproduces Python's `str()` for the JSON-shaped values a synapse field can hold. Pure, no I/O.
 */
import { createHash } from "node:crypto";

/**
 * A number Python holds as `float`. JSON loses the int/float distinction (`1.0` parses to `1`), but
 * `str(1.0)` is "1.0" and `str(1)` is "1": wrap values of fields the synapse declares `float`.
 */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** A value as pydantic's `model_dump()` gives it: plain JS numbers are Python ints when integral. */
export type PyValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | PyFloat
  | readonly PyValue[]
  | { readonly [key: string]: PyValue };

/** `sha3_256(text.encode("utf-8")).hexdigest()` (the SDK's `get_hash`). */
export function sha3Hex(text: string): string {
  return createHash("sha3-256").update(text, "utf8").digest("hex");
}

/** sha3-256 of the empty string: the body hash of a synapse without `required_hash_fields`. */
export const EMPTY_BODY_HASH = "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a";

/**
 * Body hash over the values of `required_hash_fields`, in that order (the SDK's ClassVar order; the
 * deprecated pydantic-field form uses model_dump order instead, so pass the fields in that order then).
 */
export function bodyHash(values: readonly PyValue[]): string {
  return sha3Hex(values.map((v) => sha3Hex(pyStr(v))).join(""));
}

/**
 * `json.loads(text)` as Python sees it: a number written with `.`/`e` is a float (`PyFloat`), others are
 * ints (`bigint` past 2^53, exact). Fields the synapse declares `float` still need wrapping by the caller,
 * since pydantic turns `1` into `1.0` there. Throws SyntaxError on invalid JSON, as JSON.parse does.
 */
export function parsePyJson(text: string): PyValue {
  // V8's reviver context (JSON.parse source text access) exposes the literal as written.
  const reviver = (_key: string, value: unknown, context?: { source?: string }) => {
    if (typeof value !== "number" || context?.source === undefined) return value;
    if (/[.eE]/.test(context.source)) return new PyFloat(value);
    return Number.isSafeInteger(value) ? value : BigInt(context.source);
  };
  return JSON.parse(text, reviver as (key: string, value: unknown) => unknown);
}

/** Pydantic's coercion for a `float` field: a JSON int (number or bigint) becomes a Python float. */
export function asPyFloat(value: PyValue): PyValue {
  if (typeof value === "number") return new PyFloat(value);
  if (typeof value === "bigint") return new PyFloat(Number(value));
  return value;
}

/** Python `str(value)`: strings as they are, everything else as `repr`. */
export function pyStr(value: PyValue): string {
  return typeof value === "string" ? value : pyRepr(value);
}

/** Python `repr(value)` for str, int, float, bool, None, list and dict (insertion order, as JSON keeps it). */
export function pyRepr(value: PyValue): string {
  if (value === null) return "None";
  if (value instanceof PyFloat) return pyFloatRepr(value.value);
  switch (typeof value) {
    case "string":
      return pyStrRepr(value);
    case "boolean":
      return value ? "True" : "False";
    case "bigint":
      return value.toString();
    case "number":
      // Non-integral JS numbers can only have come from Python floats.
      return Number.isInteger(value) ? BigInt(value).toString() : pyFloatRepr(value);
  }
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(", ")}]`;
  const entries = Object.entries(value as { [key: string]: PyValue });
  return `{${entries.map(([k, v]) => `${pyStrRepr(k)}: ${pyRepr(v)}`).join(", ")}}`;
}

/**
 * Python's float repr ('r' format): shortest round-trip digits (JS `toExponential()` finds the same
 * digits), fixed notation when -4 <= exponent < 16 with a ".0" when integral, else `d.ddde±XX`.
 */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const [mant, expStr] = Math.abs(x).toExponential().split("e");
  const exp = Number(expStr);
  const digits = mant.replace(".", "");
  const sign = x < 0 ? "-" : "";
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exp).toString().padStart(2, "0");
    return `${sign}${m}e${exp < 0 ? "-" : "+"}${e}`;
  }
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, "0");
  const frac = digits.slice(exp + 1);
  return `${sign}${intPart}.${frac || "0"}`;
}

// Characters Python's str.isprintable() rejects (other than ASCII space): repr escapes them.
const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

/** Python `repr(str)`: single quotes unless the text has ' and no ", escapes as CPython's unicode_repr. */
export function pyStrRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === quote || ch === "\\") out += "\\" + ch;
    else if (ch === "\t") out += "\\t";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (cp < 0x20 || cp === 0x7f) out += "\\x" + hex(cp, 2);
    else if (cp < 0x7f) out += ch;
    else if (ch !== " " && NON_PRINTABLE.test(ch)) {
      out += cp <= 0xff ? "\\x" + hex(cp, 2) : cp <= 0xffff ? "\\u" + hex(cp, 4) : "\\U" + hex(cp, 8);
    } else out += ch;
  }
  return out + quote;
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}
