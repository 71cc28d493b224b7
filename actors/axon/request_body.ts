/**
 * The request body of a synapse: read with a byte limit, parsed as Python's `json.loads` sees it (ints
 * vs floats, exact big ints: what the body hash needs), then checked against the synapse's zod schema.
 * Problems come back as results naming the JSON position or the field (answered 400 / 413).
 */
import { parsePyJson, PyFloat, type PyValue } from "./body_hash.ts";
import { describeZodError, SynapseEnvelope, type SynapseName, SYNAPSES } from "./synapses.ts";

export type BodyProblem = { ok: false; status: 400 | 413; message: string };

/** `/TrainingTask` → "TrainingTask"; null for any other path shape. */
export function routeName(req: Request): string | null {
  const path = new URL(req.url).pathname;
  const m = /^\/([^/]*)$/.exec(path);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return m[1];
  }
}

/** The body stopped before its end: the client went away or the axon's front closed it (deadline). */
export type BodyAborted = { ok: false; aborted: true };

/** Reads at most `limit` bytes as UTF-8 text; one more is a 413, whatever content-length said. */
export async function readBody(
  req: Request,
  limit: number,
): Promise<{ ok: true; text: string } | BodyProblem | BodyAborted> {
  const read = await readBodyBytes(req, limit);
  return read.ok ? { ok: true, text: new TextDecoder().decode(read.bytes) } : read;
}

/** Reads at most `limit` raw bytes (what btauth/1 hashes); one more is a 413. */
export async function readBodyBytes(
  req: Request,
  limit: number,
): Promise<{ ok: true; bytes: Uint8Array } | BodyProblem | BodyAborted> {
  if (!req.body) return { ok: true, bytes: new Uint8Array(0) };
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of req.body) {
      size += chunk.length;
      if (size > limit) return tooLarge(limit);
      chunks.push(chunk);
    }
  } catch {
    // The only way a request body stream fails is its connection closing before the end.
    return { ok: false, aborted: true };
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return { ok: true, bytes: all };
}

export function tooLarge(limit: number): BodyProblem {
  return { ok: false, status: 413, message: `Request body is too large: the limit is ${limit} bytes` };
}

/**
 * Deepest nesting a body may have. Every later step (the parse's reviver, `plain`, zod, the hash) walks
 * the value recursively, so an unbounded depth would end in a stack overflow (a 500) instead of a 400;
 * a synapse needs a handful of levels.
 */
export const MAX_JSON_DEPTH = 64;

/** The deepest `[`/`{` nesting of JSON text, counting outside strings only; stops once past `limit`. */
export function jsonDepth(text: string, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** `json.loads` of the body, which must be an object. */
export function parseBody(text: string): { ok: true; py: Record<string, PyValue> } | BodyProblem {
  if (jsonDepth(text) > MAX_JSON_DEPTH) {
    return { ok: false, status: 400, message: `Body is nested deeper than ${MAX_JSON_DEPTH} levels` };
  }
  let py: PyValue;
  try {
    py = parsePyJson(text);
  } catch (e) {
    return { ok: false, status: 400, message: `Body is not valid JSON: ${(e as Error).message}` };
  }
  if (py === null || typeof py !== "object" || Array.isArray(py) || py instanceof PyFloat) {
    return { ok: false, status: 400, message: "Body is not a JSON object" };
  }
  return { ok: true, py: py as Record<string, PyValue> };
}

/** The value as plain JSON for zod: floats as numbers, big ints rounded (only TerminalInfo nonces are). */
export function plain(v: PyValue): unknown {
  if (v instanceof PyFloat) return v.value;
  if (typeof v === "bigint") return Number(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v as Record<string, PyValue>).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

export type Fields = {
  ok: true;
  /** The synapse's own fields, validated, as plain JSON (for the forward function). */
  plain: Record<string, unknown>;
  /** The same fields as sent (exact ints and floats), in declaration order, to echo in the reply. */
  echo: Record<string, PyValue>;
};

/** Checks the envelope and the synapse's fields like pydantic would, naming the first bad field. */
export function validateFields(name: SynapseName, py: Record<string, PyValue>): Fields | BodyProblem {
  const spec = SYNAPSES[name];
  const json = plain(py) as Record<string, unknown>;
  const envelope = SynapseEnvelope.safeParse(json);
  if (!envelope.success) return { ok: false, status: 400, message: describeZodError(envelope.error) };
  const fields = spec.fields.safeParse(json);
  if (!fields.success) return { ok: false, status: 400, message: describeZodError(fields.error) };
  const echo: Record<string, PyValue> = {};
  for (const key of Object.keys(spec.fields.shape)) {
    echo[key] = Object.hasOwn(py, key) ? py[key] : ((spec.defaults as Record<string, string>)[key] ?? null);
  }
  return { ok: true, plain: fields.data as Record<string, unknown>, echo };
}
