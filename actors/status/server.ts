/**
 * The status server's routes, `Request → Promise<Response>` with no socket (tests call it with
 * `new Request`): `/` the dashboard, `/events` its live feed (SSE), `/api/status` the same view as
 * JSON (`main.ts status`), `/metrics` for Prometheus, `/login` and `/logout`, and the fixed static
 * files. Everything but the login form and the static files needs the token when one is set.
 */
import type { StatusView } from "../../core/status_view.ts";
import { ASSETS, indexPage, loginPage } from "./assets.ts";
import { LOGOUT_COOKIE, type StatusAuth } from "./auth.ts";
import type { SseHub } from "./sse.ts";

/** A login form is a few dozen bytes; nothing bigger is read. */
const MAX_FORM_BYTES = 4_096;

const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
};

export type StatusRoutes = {
  auth: StatusAuth;
  /** The current view (cached for about a second: many readers cost one sample). */
  view: () => Promise<StatusView>;
  /** The Prometheus exposition of `view`. */
  metrics: (view: StatusView) => Promise<string>;
  hub: SseHub;
};

export function createStatusHandler(r: StatusRoutes): (req: Request) => Promise<Response> {
  return async (req) => {
    const res = await route(req, r);
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) if (!res.headers.has(k)) res.headers.set(k, v);
    return res;
  };
}

async function route(req: Request, r: StatusRoutes): Promise<Response> {
  const path = new URL(req.url).pathname;
  const asset = ASSETS.get(path);
  if (asset) {
    if (req.method !== "GET" && req.method !== "HEAD") return notAllowed("GET");
    return new Response(asset.body, {
      headers: { "content-type": asset.type, "cache-control": "max-age=300" },
    });
  }
  if (path === "/login") return await login(req, r.auth);
  const verdict = r.auth.check(req);
  if (verdict === "bad_host") {
    return text(421, "This status server answers only requests addressed to 127.0.0.1 or localhost\n");
  }
  if (verdict === "unauthorized") return unauthorized(path);
  if (path === "/logout") {
    if (req.method !== "POST") return notAllowed("POST");
    return new Response(null, { status: 303, headers: { location: "login", "set-cookie": LOGOUT_COOKIE } });
  }
  if (req.method !== "GET" && req.method !== "HEAD") return notAllowed("GET");
  switch (path) {
    case "/":
      return html(200, indexPage(r.auth.required));
    case "/metrics":
      return new Response(await r.metrics(await r.view()), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8", "cache-control": "no-store" },
      });
    case "/api/status":
      return new Response(JSON.stringify(await r.view()), {
        headers: { "content-type": "application/json", "cache-control": "no-store" },
      });
    case "/events":
      return r.hub.open(JSON.stringify(await r.view())) ??
        text(503, "Too many live views are open; close one or retry later\n", { "retry-after": "10" });
    default:
      return text(404, `No route "${path.slice(0, 100)}"\n`);
  }
}

async function login(req: Request, auth: StatusAuth): Promise<Response> {
  if (!auth.required) return new Response(null, { status: 303, headers: { location: "./" } });
  if (req.method === "GET" || req.method === "HEAD") return html(200, loginPage());
  if (req.method !== "POST") return notAllowed("GET, POST");
  const form = await readForm(req);
  const token = form?.get("token") ?? "";
  const outcome = auth.login(token);
  if (outcome === "throttled") {
    return html(429, loginPage("Too many wrong tokens: wait a minute"), { "retry-after": "60" });
  }
  if (outcome === null) return html(401, loginPage("That is not the token"));
  return new Response(null, { status: 303, headers: { location: "./", "set-cookie": outcome } });
}

/** The urlencoded form, or null when it is too big or not a form. */
async function readForm(req: Request): Promise<URLSearchParams | null> {
  const type = req.headers.get("content-type") ?? "";
  if (!type.startsWith("application/x-www-form-urlencoded") || !req.body) return null;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of req.body) {
    size += chunk.byteLength;
    if (size > MAX_FORM_BYTES) return null;
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  return new URLSearchParams(new TextDecoder().decode(bytes));
}

function unauthorized(path: string): Response {
  // A browser asking for the page gets the form; a scraper or script gets the standard challenge.
  if (path === "/") return html(401, loginPage());
  return text(401, "This status server needs its token (Authorization: Bearer …)\n", {
    "www-authenticate": 'Bearer realm="satori-miner"',
  });
}

function notAllowed(allow: string): Response {
  return text(405, "Method not allowed\n", { allow });
}

function html(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", ...headers },
  });
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8", ...headers } });
}
