/**
 * The task API for bittensor 11 validators (docs/task-api.openapi.yml): versioned JSON routes on the
 * axon port beside the 10.x synapses. handler.ts sends a request here when it carries
 * `X-Bittensor-Version` or asks for `/v1/…`. Steps: route → btauth/1 claim (headers, receiver,
 * freshness: no crypto yet) → rate limit and blacklist → body (capped) → signature → replay ledger →
 * priority gate (stake) → the route's answer (task_api_routes.ts). Rate limit, blacklist, gate and
 * services are the synapse route's own; only the wire format differs. Errors are
 * `{"error": code, "message": …}`; bad input is never a 500.
 */
import OPENAPI from "../../docs/task-api.openapi.yml" with { type: "text" };
import { unavailableOf } from "../../core/errors.ts";
import type { HotkeyFacts } from "../protocol.ts";
import { blacklistVerdict, hasToken, rateLimitReason, takeToken } from "./blacklist.ts";
import { type BtauthRefusal, checkClaim, checkSignature, parseBtauthHeaders, recordNonce } from "./btauth.ts";
import { MAX_BTAUTH_NONCES, MAX_RATE_BUCKETS, setBounded } from "./bounded.ts";
import type { AxonHandlerDeps, AxonState } from "./handler.ts";
import { readBodyBytes } from "./request_body.ts";
import { echo } from "./response.ts";
import { answer, ApiError, json, type Route } from "./task_api_routes.ts";

/** How long a request waits for the priority gate: the synapse route's default (the SDK's 12 s timeout). */
export const API_GATE_TIMEOUT_MS = 12_000;

/** The request target as sent (path and `?query`): Deno.serve's URL is `scheme://host` + the target. */
export function requestTarget(url: string): string {
  const authority = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(url);
  return authority ? url.slice(authority[0].length) : url;
}

/** Whether the target is one of the API's paths (which answer JSON even without btauth headers). */
export function isApiTarget(target: string): boolean {
  return target === "/v1" || target.startsWith("/v1/") || target.startsWith("/v1?");
}

/** `/v1/tasks/{id}` and the rest, from the path (the target before `?`); refusals as ApiError. */
export function matchRoute(method: string, target: string): Route | ApiError {
  const path = target.split("?")[0];
  const only = (want: string, route: Route) => {
    if (method === want) return route;
    const allow = { Allow: want };
    return new ApiError(405, "method_not_allowed", `Use ${want} for ${echo(path)}`, {}, null, allow);
  };
  if (path === "/v1/openapi.yaml") return only("GET", { kind: "openapi" });
  if (path === "/v1/tasks") return only("POST", { kind: "submit" });
  if (path === "/v1/capacity") return only("GET", { kind: "capacity" });
  const m = /^\/v1\/tasks\/([^/]+)(\/cancel)?$/.exec(path);
  const taskId = m ? decodeSegment(m[1]) : null;
  if (m && taskId !== null) {
    return m[2] ? only("POST", { kind: "cancel", taskId }) : only("GET", { kind: "status", taskId });
  }
  return new ApiError(404, "not_found", `No route "${echo(path)}": see GET /v1/openapi.yaml`);
}

function decodeSegment(raw: string): string | null {
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}

/** The verified sender of a request: its hotkey (ss58, prefix 42), its metagraph facts, its raw body. */
export type ApiCaller = { hotkey: string; facts: HotkeyFacts; body: Uint8Array };

export function createTaskApiHandler(
  deps: AxonHandlerDeps,
  state: AxonState,
): (req: Request) => Promise<Response> {
  return async (req) => {
    let res: Response;
    try {
      res = await serve(req, deps, state);
    } catch (e) {
      res = failure(e, req, deps, state);
    }
    state.counts.set(res.status, (state.counts.get(res.status) ?? 0) + 1);
    return res;
  };
}

/** The body never fully arrived: nobody is left to answer. */
class Aborted {}

async function serve(req: Request, deps: AxonHandlerDeps, state: AxonState): Promise<Response> {
  const target = requestTarget(req.url);
  const route = matchRoute(req.method, target);
  if (route instanceof ApiError) throw route;
  if (route.kind === "openapi") {
    return new Response(OPENAPI, { headers: { "content-type": "application/yaml; charset=utf-8" } });
  }
  const caller = await authenticate(req, target, deps, state);
  const release = await state.gate.acquire(caller.facts.stakeTao, API_GATE_TIMEOUT_MS);
  if (release === null) {
    throw new ApiError(503, "unavailable", "The miner is busy: too many requests in flight", {}, 1);
  }
  try {
    return await answer(route, caller, deps);
  } finally {
    release();
  }
}

/**
 * btauth/1 with the synapse route's blacklist between the cheap checks and the signature (a flood of
 * forged requests costs no crypto), and its rate token taken only once the signature verified.
 */
async function authenticate(
  req: Request,
  target: string,
  deps: AxonHandlerDeps,
  state: AxonState,
): Promise<ApiCaller> {
  const parsed = parseBtauthHeaders(req.headers);
  if (!parsed.ok) throw authError(parsed);
  const nowMs = deps.clock.now();
  const claimed = checkClaim(parsed.headers, deps.signer.hotkey.ss58, BigInt(Math.floor(nowMs)) * 1_000_000n);
  if (!claimed.ok) throw authError(claimed);
  const { claim } = claimed;
  if (Number(req.headers.get("content-length") ?? 0) > deps.maxBodyBytes) throw tooLarge(deps.maxBodyBytes);
  if (!hasToken(state.buckets, claim.hotkey, deps.rateLimit, nowMs)) {
    throw new ApiError(403, "rate_limited", rateLimitReason(deps.rateLimit));
  }
  const facts = await deps.lookup(claim.hotkey);
  if (facts.stale) state.staleLookups++;
  const verdict = blacklistVerdict(facts, deps.rules);
  if (verdict) throw new ApiError(403, verdict.code, `Hotkey ${claim.hotkey} is refused: ${verdict.reason}`);
  const body = await readBodyBytes(req, deps.maxBodyBytes);
  if (!body.ok) throw "aborted" in body ? new Aborted() : tooLarge(deps.maxBodyBytes);
  // From the signature check to the record nothing awaits: two requests with one nonce cannot both pass.
  const signed = checkSignature(claim, { method: req.method, target, body: body.bytes });
  if (!signed.ok) throw authError(signed);
  const recorded = recordNonce(state.ledger, claim, deps.clock.now(), MAX_BTAUTH_NONCES);
  if (recorded === "replayed") {
    throw new ApiError(401, "replayed_request", "This nonce was already accepted from this hotkey");
  }
  if (recorded === "full") {
    throw new ApiError(503, "unavailable", "Too many signed requests in the last minute", {}, 1);
  }
  takeToken(state.buckets, claim.hotkey, deps.rateLimit, deps.clock.now());
  setBounded(state.buckets, claim.hotkey, state.buckets.get(claim.hotkey)!, MAX_RATE_BUCKETS);
  return { hotkey: claim.hotkey, facts, body: body.bytes };
}

/** A wrong receiver is a 403 (the request is fine, just not for us); every other auth failure a 401. */
function authError(r: BtauthRefusal): ApiError {
  return new ApiError(r.code === "wrong_receiver" ? 403 : 401, r.code, r.message);
}

function tooLarge(limit: number): ApiError {
  return new ApiError(413, "body_too_large", `Request body is too large: the limit is ${limit} bytes`);
}

function failure(e: unknown, req: Request, deps: AxonHandlerDeps, state: AxonState): Response {
  if (e instanceof ApiError) return e.response();
  if (e instanceof Aborted) {
    // A client that stalls or leaves mid-body is the network's business, not a failure of ours.
    state.aborted++;
    deps.log?.debug("Task API request {method} aborted: its body did not arrive", { method: req.method });
    return new Response(null, { status: 400 });
  }
  const busy = unavailableOf(e);
  if (busy) {
    deps.log?.warn("Task API request refused: {message}", { message: busy.message });
    return new ApiError(503, "unavailable", busy.message, {}, busy.retryAfterS).response();
  }
  const id = crypto.randomUUID();
  deps.log?.error("Task API request {method} failed with error #{id}: {error}", {
    method: req.method,
    id,
    error: e,
  });
  return json(500, { error: "internal", message: `Internal Server Error #${id}` });
}
