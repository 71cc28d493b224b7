/**
 * The axon's HTTP handler, `Request → Promise<Response>`, free of sockets (tests call it with
 * `new Request`). A btauth/1 request (bittensor 11) or one for `/v1/…` goes to the task API
 * (task_api.ts); the rest is the 10.x synapse protocol. Synapse steps in the SDK's order: route and parse headers → blacklist (rate limit, registered,
 * permit, stake) → verify (signature, nonce, body hash) → priority (stake) → the synapse's forward.
 * Statuses and bodies as bittensor 10.5's axon: 404/403/401/408/500 with `{"message"}`, 200 with the
 * whole synapse; plus 400 (bad header, JSON or field), 405 and 413, and 503 with `Retry-After` while an
 * actor behind the door restarts. It never throws: any other failure is a 500.
 */
import type { Logger } from "@logtape/logtape";
import { unavailableOf } from "../../core/errors.ts";
import type { Clock } from "../runtime/actor.ts";
import { asPyFloat, PyFloat, pyFloatRepr, type PyValue } from "./body_hash.ts";
import {
  blacklistReason,
  type BlacklistRules,
  type Buckets,
  hasToken,
  type RateLimit,
  rateLimitReason,
  takeToken,
} from "./blacklist.ts";
import type { HotkeyFacts } from "../protocol.ts";
import type { PriorityGate } from "./priority_gate.ts";
import { parseRequestHeaders, type RequestHeaders, verifyBodyHash, verifyRequest } from "./wire.ts";
import { echo, errorResponse, type ReplySynapse, synapseResponse, type Terminal } from "./response.ts";
import { type AxonServices, forward } from "./synapse_handlers.ts";
import { parseBody, readBody, routeName, tooLarge, validateFields } from "./request_body.ts";
import { isSynapseName, type SynapseName, SYNAPSES } from "./synapses.ts";
import { MAX_CACHED_SIGNATURES, MAX_OPEN_NONCE_KEYS, MAX_RATE_BUCKETS, setBounded } from "./bounded.ts";
import { isBtauthRequest, type ReplayLedger } from "./btauth.ts";
import { createTaskApiHandler, isApiTarget, requestTarget } from "./task_api.ts";

/** `version` we put in our TerminalInfo: the SDK release whose protocol we speak (10.5.0). */
export const AXON_VERSION = 10_005_000;

export interface AxonHandlerDeps extends AxonServices {
  /** Our hotkey: requests must be signed for it; replies carry it and its signature. */
  readonly signer: { readonly hotkey: { readonly ss58: string }; sign(message: string): string };
  readonly clock: Clock;
  readonly rules: BlacklistRules;
  readonly rateLimit: RateLimit;
  readonly maxBodyBytes: number;
  readonly log?: Logger;
  /** Told each answered request: its path, status and seconds taken (the status server's metrics). */
  readonly onReply?: (path: string, status: number, seconds: number) => void;
}

/** What the AxonActor owns and the handler updates: fresh on every (re)start. */
export interface AxonState {
  readonly uuid: string;
  /** Last nonce per `hotkey:uuid` of validator synapses (blacklist-checked senders only). */
  readonly nonces: Map<string, bigint>;
  /** The same for senders no blacklist checked (pings), capped: see bounded.ts. */
  readonly openNonces: Map<string, bigint>;
  readonly buckets: Buckets;
  readonly gate: PriorityGate;
  /** Replies sent, by HTTP status. */
  readonly counts: Map<number, number>;
  staleLookups: number;
  /** Requests whose body stopped before its end (client gone, or the front's deadline): not replies. */
  aborted: number;
  /**
   * Our TerminalInfo signature per verified sender hotkey, reused for up to `SIGNATURE_TTL_MS`: sr25519
   * signing costs about as much as verifying, and the signed text (`{nonce}.{sender}.{us}.{uuid}`)
   * covers no reply content, so a fresh one per reply buys nothing.
   */
  readonly signatures: Map<string, { nonce: bigint; signature: string }>;
  /** btauth/1 (sender, nonce) pairs seen in the last minute: the task API's replay ledger. */
  readonly ledger: ReplayLedger;
}

export const SIGNATURE_TTL_MS = 1_000;

export type ConnInfo = { readonly remoteAddr?: { readonly hostname: string; readonly port: number } };
export type AxonHandler = (req: Request, info?: ConnInfo) => Promise<Response>;

/** Facts about one request as the steps learn them; refusals are built from whatever is known. */
type Ctx = {
  name: string;
  startMs: number;
  client: ConnInfo["remoteAddr"] | null;
  headers: RequestHeaders | null;
  /** Where the sender thinks we are (`bt_header_axon_ip` / `_port`), echoed in our TerminalInfo. */
  axon: { ip: string | null; port: number | null };
};

class Refusal {
  constructor(readonly status: number, readonly message: string) {}
}

/** The request's body never fully arrived: nobody is left to answer. */
class Aborted {}

export function createAxonHandler(deps: AxonHandlerDeps, state: AxonState): AxonHandler {
  const handle = serveRequest(deps, state);
  const { onReply } = deps;
  if (!onReply) return handle;
  // Timed outermost, so both wire formats and every refusal are counted.
  return async (req, info) => {
    const startMs = performance.now();
    const res = await handle(req, info);
    onReply(new URL(req.url).pathname, res.status, (performance.now() - startMs) / 1000);
    return res;
  };
}

function serveRequest(deps: AxonHandlerDeps, state: AxonState): AxonHandler {
  const taskApi = createTaskApiHandler(deps, state);
  return async (req, info) => {
    // One core, two wire formats: btauth/1 (bittensor 11) names its version; the 10.x synapses do not.
    if (isBtauthRequest(req.headers) || isApiTarget(requestTarget(req.url))) return await taskApi(req);
    const ctx: Ctx = {
      name: "Synapse",
      startMs: deps.clock.now(),
      client: info?.remoteAddr ?? null,
      headers: null,
      axon: axonAddress(req.headers),
    };
    let res: Response;
    try {
      res = await serve(req, ctx, deps, state);
    } catch (e) {
      const busy = unavailableOf(e);
      if (e instanceof Aborted) {
        // A client that stalls or leaves mid-body is the network's business, not a failure of ours.
        state.aborted++;
        deps.log?.debug("Axon request {name} aborted: its body did not arrive", { name: ctx.name });
        return new Response(null, { status: 400 });
      }
      if (e instanceof Refusal) res = refuse(ctx, deps, state, e.status, e.message);
      else if (busy) {
        // A restarting actor is the miner's passing state, not a bug: the validator may come back.
        deps.log?.warn("Axon request {name} refused: {message}", { name: ctx.name, message: busy.message });
        res = refuse(ctx, deps, state, 503, busy.message);
        res.headers.set("Retry-After", String(busy.retryAfterS));
      } else {
        const id = crypto.randomUUID();
        deps.log?.error("Axon request {name} failed with error #{id}: {error}", {
          name: ctx.name,
          id,
          error: e,
        });
        res = refuse(ctx, deps, state, 500, `Internal Server Error #${id}`);
      }
    }
    state.counts.set(res.status, (state.counts.get(res.status) ?? 0) + 1);
    return res;
  };
}

async function serve(req: Request, ctx: Ctx, deps: AxonHandlerDeps, state: AxonState): Promise<Response> {
  const name = routeName(req);
  if (name === null || !isSynapseName(name)) {
    const available = Object.keys(SYNAPSES).map((n) => `'${n}'`).join(", ");
    throw new Refusal(404, `Synapse name '${echo(name ?? "")}' not found. Available synapses [${available}]`);
  }
  ctx.name = name;
  if (req.method !== "POST" && req.method !== "GET") throw new Refusal(405, "Method Not Allowed");
  const parsed = parseRequestHeaders(req.headers);
  if (!parsed.ok) throw new Refusal(parsed.status, parsed.message);
  const headers = (ctx.headers = parsed.headers);
  const declared = Number(req.headers.get("content-length") ?? 0);
  if (declared > deps.maxBodyBytes) throw refusal(tooLarge(deps.maxBodyBytes));

  const facts = await blacklist(name, headers, deps, state);
  const text = await readBody(req, deps.maxBodyBytes);
  if (!text.ok) throw "aborted" in text ? new Aborted() : refusal(text);
  const body = parseBody(text.text);
  if (!body.ok) throw refusal(body);
  const hotkey = verify(name, headers, body.py, deps, state);
  const fields = validateFields(name, body.py);
  if (!fields.ok) throw refusal(fields);

  const priority = facts?.stakeTao ?? 0;
  const timeoutS = Math.min(headers.timeout, 120);
  const release = await state.gate.acquire(priority, timeoutS * 1000);
  if (release === null) throw new Refusal(408, `Response timeout after: ${pyFloatRepr(headers.timeout)}s`);
  try {
    const reply = await forward(name, fields.plain, { hotkey, facts }, deps);
    return synapseResponse(success(ctx, deps, state, headers, { ...fields.echo, ...reply }));
  } finally {
    release();
  }
}

function axonAddress(h: Headers): Ctx["axon"] {
  const port = Number(h.get("bt_header_axon_port") ?? "x");
  const ip = h.get("bt_header_axon_ip");
  return { ip: ip, port: Number.isSafeInteger(port) ? port : null };
}

async function blacklist(
  name: SynapseName,
  headers: RequestHeaders,
  deps: AxonHandlerDeps,
  state: AxonState,
): Promise<HotkeyFacts | null> {
  const hotkey = headers.dendrite.hotkey;
  if (hotkey === null) return null; // verify refuses it (401), as the SDK's default_verify does
  const forbid = (reason: string) => new Refusal(403, `Forbidden. Key is blacklisted: ${reason}.`);
  if (!hasToken(state.buckets, hotkey, deps.rateLimit, deps.clock.now())) {
    throw forbid(rateLimitReason(deps.rateLimit));
  }
  if (!SYNAPSES[name].validatorsOnly) return null;
  const facts = await deps.lookup(hotkey);
  if (facts.stale) state.staleLookups++;
  const reason = blacklistReason(facts, deps.rules);
  if (reason !== null) throw forbid(reason);
  return facts;
}

function refusal(p: { status: number; message: string }): Refusal {
  return new Refusal(p.status, p.message);
}

/**
 * Signature, nonce and body hash, then records the nonce and takes a rate token. Synchronous from the
 * first check to the record, so two requests with one nonce cannot both pass.
 */
function verify(
  name: SynapseName,
  headers: RequestHeaders,
  body: Record<string, PyValue>,
  deps: AxonHandlerDeps,
  state: AxonState,
): string {
  const own = deps.signer.hotkey.ss58;
  if (headers.axonHotkey !== null && headers.axonHotkey !== own) {
    throw new Refusal(
      401,
      `Not Verified with error: Request is for axon hotkey ${headers.axonHotkey}, not ${own}`,
    );
  }
  const nowNs = BigInt(Math.floor(deps.clock.now())) * 1_000_000n;
  const checked = SYNAPSES[name].validatorsOnly;
  const nonces = checked ? state.nonces : state.openNonces;
  const v = verifyRequest(headers, { axonHotkey: own, nonces, nowNs });
  if (!v.ok) throw new Refusal(v.status, v.message);
  const spec = SYNAPSES[name];
  const values = spec.hashFields.map((f) => {
    const value = Object.hasOwn(body, f) ? body[f] : ((spec.defaults as Record<string, string>)[f] ?? null);
    return (spec.floatFields as readonly string[]).includes(f) ? asPyFloat(value) : value;
  });
  const integrity = verifyBodyHash(headers, values);
  if (!integrity.ok) throw new Refusal(integrity.status, integrity.message);
  if (checked) state.nonces.set(v.endpointKey, v.nonce);
  else setBounded(state.openNonces, v.endpointKey, v.nonce, MAX_OPEN_NONCE_KEYS);
  takeToken(state.buckets, v.hotkey, deps.rateLimit, deps.clock.now());
  setBounded(state.buckets, v.hotkey, state.buckets.get(v.hotkey)!, MAX_RATE_BUCKETS);
  return v.hotkey;
}

/** The synapse of a refusal: what the request headers said, and our status fields. */
function refuse(
  ctx: Ctx,
  deps: AxonHandlerDeps,
  state: AxonState,
  status: number,
  message: string,
): Response {
  const h = ctx.headers;
  const dendrite: Terminal = h === null ? {} : {
    ip: ctx.client?.hostname ?? h.dendrite.ip,
    port: ctx.client?.port ?? null,
    version: h.dendrite.version,
    nonce: h.dendrite.nonce,
    uuid: h.dendrite.uuid,
    hotkey: h.dendrite.hotkey,
    signature: h.dendrite.signature,
  };
  const synapse: ReplySynapse = {
    name: ctx.name,
    timeout: h?.timeout ?? 12,
    dendrite,
    axon: axonTerminal(ctx, deps, state, status, message, null),
    computedBodyHash: h?.computedBodyHash ?? "",
    fields: {},
  };
  return errorResponse(status, message, synapse);
}

/** The synapse of a 200: the request's fields with the reply's, the sender's TerminalInfo as signed. */
function success(
  ctx: Ctx,
  deps: AxonHandlerDeps,
  state: AxonState,
  h: RequestHeaders,
  fields: Record<string, PyValue>,
): ReplySynapse {
  return {
    name: ctx.name,
    timeout: h.timeout,
    dendrite: {
      ip: h.dendrite.ip,
      version: h.dendrite.version,
      nonce: h.dendrite.nonce,
      uuid: h.dendrite.uuid,
      hotkey: h.dendrite.hotkey,
      signature: h.dendrite.signature,
    },
    axon: axonTerminal(ctx, deps, state, 200, "Success", h.dendrite.hotkey),
    computedBodyHash: h.computedBodyHash,
    fields,
  };
}

/**
 * Our TerminalInfo: status fields, our hotkey and uuid; on a 200 also the SDK's axon-side signature of
 * `{nonce}.{sender}.{us}.{uuid}`. Refusals go unsigned (unlike the SDK, which signs every request
 * before its blacklist): a flood of forged requests must not make us sign for each one.
 */
function axonTerminal(
  ctx: Ctx,
  deps: AxonHandlerDeps,
  state: AxonState,
  status: number,
  message: string,
  signFor: string | null,
): Terminal {
  const now = deps.clock.now();
  const hotkey = deps.signer.hotkey.ss58;
  let nonce = BigInt(Math.floor(now)) * 1_000_000n;
  let signature: string | null = null;
  if (signFor !== null) {
    const cached = state.signatures.get(signFor);
    if (cached && nonce - cached.nonce < BigInt(SIGNATURE_TTL_MS) * 1_000_000n && cached.nonce <= nonce) {
      ({ nonce, signature } = cached);
    } else {
      signature = deps.signer.sign(`${nonce}.${signFor}.${hotkey}.${state.uuid}`);
      setBounded(state.signatures, signFor, { nonce, signature }, MAX_CACHED_SIGNATURES);
    }
  }
  return {
    status_code: status,
    status_message: message,
    process_time: new PyFloat(Math.max(0, now - ctx.startMs) / 1000),
    ip: ctx.axon.ip,
    port: ctx.axon.port,
    version: AXON_VERSION,
    nonce,
    uuid: state.uuid,
    hotkey,
    signature,
  };
}
