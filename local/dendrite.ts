/**
 * Our TypeScript dendrite: signs a synapse request exactly as bittensor 10.5's `Dendrite.call` does
 * (buildRequest + the wallet), posts it to `http://{ip}:{port}/{Synapse}` and reads the reply as the SDK's
 * `process_server_response` does. For tests, the local network's validator and the task-center client.
 * Transport failures are replies too (503 / 408 / 422, the SDK's dendrite codes); it never throws.
 */
import { PyFloat, type PyValue } from "../actors/axon/body_hash.ts";
import { buildRequest } from "../actors/axon/wire.ts";
import { AXON_VERSION } from "../actors/axon/handler.ts";
import { type SynapseName, SYNAPSES } from "../actors/axon/synapses.ts";

export interface DendriteOptions {
  readonly wallet: { readonly hotkey: { readonly ss58: string }; sign(message: string): string };
  /** Our external ip, sent in `bt_header_dendrite_ip`. */
  readonly ip?: string;
  readonly fetch?: typeof fetch;
  /** Wall clock in ms (nonces are ns timestamps, kept strictly increasing). */
  readonly now?: () => number;
}

/** Where to send: the target axon as the metagraph lists it. */
export interface AxonTarget {
  readonly ip: string;
  readonly port: number;
  readonly hotkey: string;
}

export interface PreparedRequest {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly timeoutS: number;
}

export interface DendriteReply {
  /** HTTP status, or the SDK dendrite's code for a transport failure (503, 408, 422). */
  readonly status: number;
  /** `axon.status_message`: "Success", or the refusal's message. */
  readonly message: string | null;
  /** The synapse the axon returned (200 only), as JSON. */
  readonly synapse: Record<string, unknown> | null;
  readonly headers: Readonly<Record<string, string>>;
}

export interface Dendrite {
  readonly uuid: string;
  readonly hotkey: string;
  /** Builds the signed request (tests tamper with it before `send`). */
  prepare(
    target: AxonTarget,
    name: SynapseName | string,
    fields?: Record<string, PyValue>,
    timeoutS?: number,
  ): PreparedRequest;
  send(req: PreparedRequest): Promise<DendriteReply>;
  call(
    target: AxonTarget,
    name: SynapseName,
    fields?: Record<string, PyValue>,
    timeoutS?: number,
  ): Promise<DendriteReply>;
}

const DEFAULT_TIMEOUT_S = 12;

export function createDendrite(opts: DendriteOptions): Dendrite {
  const uuid = crypto.randomUUID();
  const now = opts.now ?? Date.now;
  const doFetch = opts.fetch ?? fetch;
  let lastNonce = 0n;
  const nextNonce = () => {
    const ns = BigInt(Math.floor(now())) * 1_000_000n;
    lastNonce = ns > lastNonce ? ns : lastNonce + 1n;
    return lastNonce;
  };

  const prepare: Dendrite["prepare"] = (target, name, fields = {}, timeoutS = DEFAULT_TIMEOUT_S) => {
    const spec = (SYNAPSES as Record<string, (typeof SYNAPSES)[SynapseName]>)[name];
    const declared = spec ? declaredFields(spec, fields) : fields;
    const { headers, body } = buildRequest({
      synapseName: name,
      timeout: timeoutS,
      axon: target,
      dendrite: { ip: opts.ip ?? "127.0.0.1", uuid, version: AXON_VERSION, hotkey: opts.wallet.hotkey.ss58 },
      nonceNs: nextNonce(),
      fields: declared,
      hashFields: spec?.hashFields ?? [],
    }, (m) => opts.wallet.sign(m));
    const url = `http://${target.ip.includes(":") ? `[${target.ip}]` : target.ip}:${target.port}/${name}`;
    return { url, headers: { ...headers, "content-type": "application/json" }, body, timeoutS };
  };

  const send = (req: PreparedRequest) => post(doFetch, req);
  return {
    uuid,
    hotkey: opts.wallet.hotkey.ss58,
    prepare,
    send,
    call: (target, name, fields, timeoutS) => send(prepare(target, name, fields, timeoutS)),
  };
}

/** Every declared field in order, unset ones at their Python default; float fields as `PyFloat`. */
function declaredFields(
  spec: (typeof SYNAPSES)[SynapseName],
  given: Record<string, PyValue>,
): Record<string, PyValue> {
  const out: Record<string, PyValue> = {};
  const defaults = spec.defaults as Record<string, string>;
  for (const key of Object.keys(spec.fields.shape)) {
    const v = Object.hasOwn(given, key) ? given[key] : (defaults[key] ?? null);
    out[key] = (spec.floatFields as readonly string[]).includes(key) && typeof v === "number"
      ? new PyFloat(v)
      : v;
  }
  return out;
}

async function post(doFetch: typeof fetch, req: PreparedRequest): Promise<DendriteReply> {
  let res: Response;
  try {
    res = await doFetch(req.url, {
      method: "POST",
      headers: req.headers,
      body: req.body,
      signal: AbortSignal.timeout(req.timeoutS * 1000),
    });
  } catch (e) {
    const timedOut = e instanceof DOMException && e.name === "TimeoutError";
    return timedOut
      ? failure(408, `Timeout after ${req.timeoutS} seconds`)
      : failure(503, `Service at ${new URL(req.url).host} unavailable: ${(e as Error).message}`);
  }
  const headers = Object.fromEntries(res.headers);
  let json: unknown;
  try {
    json = await res.json();
  } catch {
    return { ...failure(422, "Failed to parse response"), headers };
  }
  const obj = json !== null && typeof json === "object" ? json as Record<string, unknown> : {};
  if (res.status === 200) {
    const axon = (obj.axon ?? {}) as Record<string, unknown>;
    return { status: 200, message: String(axon.status_message ?? "Success"), synapse: obj, headers };
  }
  const message = typeof obj.message === "string"
    ? obj.message
    : headers.bt_header_axon_status_message ?? null;
  return { status: res.status, message, synapse: null, headers };
}

function failure(status: number, message: string): DendriteReply {
  return { status, message, synapse: null, headers: {} };
}
