/**
 * The axon's replies, shaped as bittensor 10.5's `AxonMiddleware` shapes them: a success is the whole
 * synapse as JSON with `synapse.to_headers()` as response headers; a refusal is `{"message": …}` with the
 * headers of the synapse built from the request headers. Always `application/json`. Pure, no I/O.
 */
import { PyFloat, pyFloatRepr, type PyValue } from "./body_hash.ts";
import { TERMINAL_FIELDS } from "./synapses.ts";

/** A TerminalInfo as we emit it: absent/null fields are None in Python. */
export type Terminal = { [K in (typeof TERMINAL_FIELDS)[number]]?: PyValue };

/** The synapse a reply describes (the envelope plus its own fields). */
export interface ReplySynapse {
  readonly name: string;
  readonly timeout: number;
  readonly dendrite: Terminal;
  readonly axon: Terminal;
  readonly computedBodyHash: string;
  /** The synapse's own fields in declaration order (echoed request values and reply values). */
  readonly fields: Readonly<Record<string, PyValue>>;
}

/**
 * JSON as Python's `json.dumps` would write the value (compact, as Starlette's JSONResponse): bigints as
 * exact digits, `PyFloat` in float repr (`1.0`, `1e-07`). Non-finite floats become null (JSON has none).
 */
export function pyJson(value: PyValue | undefined): string {
  if (value === null || value === undefined) return "null";
  if (value instanceof PyFloat) return Number.isFinite(value.value) ? pyFloatRepr(value.value) : "null";
  switch (typeof value) {
    case "bigint":
      return value.toString();
    case "number":
      return Number.isFinite(value) ? JSON.stringify(value) : "null";
    case "string":
    case "boolean":
      return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(pyJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, PyValue>).filter(([, v]) => v !== undefined);
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${pyJson(v)}`).join(",")}}`;
}

function terminalJson(t: Terminal): Record<string, PyValue> {
  return Object.fromEntries(TERMINAL_FIELDS.map((k) => [k, t[k] ?? null]));
}

/** `synapse.model_dump()` as JSON; `computed_body_hash` stays "" in the body, as the SDK's frozen default. */
export function synapseJson(s: ReplySynapse): string {
  return pyJson({
    name: s.name,
    timeout: new PyFloat(s.timeout),
    total_size: 0,
    header_size: 0,
    dendrite: terminalJson(s.dendrite),
    axon: terminalJson(s.axon),
    computed_body_hash: "",
    ...s.fields,
  });
}

/** Client text quoted in a message (the status message is a header too) is cut to this many characters. */
export const MAX_ECHO_CHARS = 128;

/** `text` cut to `MAX_ECHO_CHARS`, with an ASCII ellipsis (headers turn any other character into "?"). */
export function echo(text: string): string {
  return text.length <= MAX_ECHO_CHARS ? text : `${text.slice(0, MAX_ECHO_CHARS)}...`;
}

/**
 * Longest response header value, in characters (ASCII, so bytes). Values echo request headers a client
 * chose (nonce, uuid, ip, …); aiohttp, the SDK dendrite's client, refuses a header line over 8 190
 * bytes, so each is cut well below that: ours are at most about 200.
 */
export const MAX_HEADER_VALUE_CHARS = 1_024;

/**
 * Python `str(v)` of a header value, made safe for HTTP: anything outside printable ASCII becomes "?",
 * and past `MAX_HEADER_VALUE_CHARS` it is cut with "...".
 */
function headerValue(v: PyValue): string {
  const s = typeof v === "string" ? v : v instanceof PyFloat ? pyFloatRepr(v.value) : pyJson(v);
  const cut = s.length > MAX_HEADER_VALUE_CHARS ? `${s.slice(0, MAX_HEADER_VALUE_CHARS - 3)}...` : s;
  return cut.replace(/[^\x20-\x7e]/g, "?");
}

/** `synapse.to_headers()`: name, timeout, non-None TerminalInfo fields, sizes and the body hash. */
export function synapseHeaders(s: ReplySynapse, bodyBytes: number): Record<string, string> {
  const h: Record<string, string> = { name: headerValue(s.name), timeout: pyFloatRepr(s.timeout) };
  for (const [prefix, t] of [["bt_header_axon_", s.axon], ["bt_header_dendrite_", s.dendrite]] as const) {
    for (const k of TERMINAL_FIELDS) {
      const v = t[k];
      if (v !== undefined && v !== null) h[prefix + k] = headerValue(v);
    }
  }
  // The SDK sends Python object sizes (sys.getsizeof) that nothing reads; we send byte counts.
  h.header_size = String(Object.entries(h).reduce((n, [k, v]) => n + k.length + v.length, 0));
  h.total_size = String(bodyBytes);
  h.computed_body_hash = headerValue(s.computedBodyHash);
  return h;
}

const encoder = new TextEncoder();

/** The 200 reply: the whole synapse as JSON, its headers from `to_headers()`. */
export function synapseResponse(s: ReplySynapse): Response {
  const body = synapseJson(s);
  const bytes = encoder.encode(body);
  return new Response(bytes, {
    status: Number(s.axon.status_code ?? 200),
    headers: { ...synapseHeaders(s, bytes.length), "content-type": "application/json" },
  });
}

/** A refusal: `{"message": …}` with the status, and the request synapse's headers (status fields set). */
export function errorResponse(status: number, message: string, s: ReplySynapse): Response {
  const body = encoder.encode(JSON.stringify({ message }));
  return new Response(body, {
    status,
    headers: { ...synapseHeaders(s, 0), "content-type": "application/json" },
  });
}
