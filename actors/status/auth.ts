/**
 * Who may read the status server. With a token (config `status.token`, required for any host but
 * loopback) every route but the login form needs it: as `Authorization: Bearer …` (Prometheus,
 * `main.ts status`) or as the cookie the login form sets (a browser; the cookie holds a keyed hash
 * of the token, never the token). Both are compared in constant time. Without a token the server
 * is on loopback, and answers only requests addressed to a loopback name, so a web page elsewhere
 * cannot reach it through DNS rebinding.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export const COOKIE = "satori_status";
/** A browser stays logged in this long. */
const COOKIE_MAX_AGE_S = 30 * 24 * 3600;
/** Failed logins allowed per window before the form answers 429: guessing stays slow. */
const MAX_FAILED = 10;
const FAILED_WINDOW_MS = 60_000;

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

/** Whether `host` (config `status.host`) only accepts connections from this machine. */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || /^127(\.\d{1,3}){3}$/.test(host);
}

export type AuthVerdict = "ok" | "unauthorized" | "bad_host";

export class StatusAuth {
  readonly #token: string | null;
  readonly #session: string | null;
  #failed: number[] = [];

  constructor(token: string | null, private readonly now: () => number = Date.now) {
    this.#token = token;
    this.#session = token === null ? null : sessionOf(token);
  }

  get required(): boolean {
    return this.#token !== null;
  }

  /** Whether `req` may read the status; the login routes are the caller's to exempt. */
  check(req: Request): AuthVerdict {
    if (this.#token === null) return loopbackHostHeader(req) ? "ok" : "bad_host";
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.get("authorization") ?? "")?.[1];
    if (bearer !== undefined && sameSecret(bearer, this.#token)) return "ok";
    const cookie = cookieValue(req.headers.get("cookie"), COOKIE);
    if (cookie !== null && sameSecret(cookie, this.#session!)) return "ok";
    return "unauthorized";
  }

  /** A login attempt: the Set-Cookie value on success, "throttled" past the failure budget, else null. */
  login(token: string): string | "throttled" | null {
    const now = this.now();
    this.#failed = this.#failed.filter((t) => now - t < FAILED_WINDOW_MS);
    if (this.#failed.length >= MAX_FAILED) return "throttled";
    if (this.#token !== null && sameSecret(token, this.#token)) {
      return `${COOKIE}=${this.#session}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${COOKIE_MAX_AGE_S}`;
    }
    this.#failed.push(now);
    return null;
  }
}

/** The Set-Cookie value that logs a browser out. */
export const LOGOUT_COOKIE = `${COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;

/** Equal-length digests compared with timingSafeEqual: neither length nor content leaks through time. */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function sessionOf(token: string): string {
  return createHmac("sha256", token).update("satori-status-session-v1").digest("base64url");
}

function cookieValue(header: string | null, name: string): string | null {
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/** The Host header names a loopback address (with or without a port). */
function loopbackHostHeader(req: Request): boolean {
  const host = req.headers.get("host") ?? new URL(req.url).host;
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.replace(/:\d+$/, "");
  return isLoopbackHost(name.toLowerCase());
}
