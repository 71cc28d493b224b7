/**
 * Every byte of a dataset comes through here, under the miner's own caps whatever the validator
 * asked for: bytes, time to the answer, silence between chunks and total time. Only http(s); the
 * address of every request and every redirect is resolved and checked (public, or on the
 * operator's allow-list) and then connected to as checked (pinned_client.ts). Redirects are
 * followed by hand, each hop checked, at most MAX_REDIRECTS. Failures are DatasetErrors with a code
 * from the fixed set; their messages (status codes, addresses) are for our log only.
 */
import { type AllowList, isIpLiteral, isLocalhostName, unbracket } from "./address.ts";
import { DatasetError, type DatasetErrorOptions, type DatasetFailure } from "./limits.ts";
import { type PinnedClient, pinnedClient } from "./pinned_client.ts";

export const MAX_REDIRECTS = 5;

/** A and AAAA answers for a name; tests pass their own to steer a name anywhere. */
export type Resolver = (host: string, signal: AbortSignal) => Promise<string[]>;

export interface NetDeps {
  fetch?: typeof fetch;
  resolveDns?: Resolver;
}

export interface FetchCaps {
  /** Bytes all bodies counted against the session may add up to. */
  maxBytes: number;
  /** From sending a request to its answer's headers. */
  firstByteMs: number;
  /** Longest silence between two chunks of a body. */
  idleMs: number;
  /** The whole session, every request and body. */
  totalMs: number;
}

/** A running count of bytes against a limit. */
export class ByteBudget {
  used = 0;
  constructor(readonly max: number) {}
}

export interface Fetched {
  response: Response;
  /** The URL that answered (after redirects). */
  url: URL;
  /** Frees the hop's connection; `body()` calls it when done. */
  release(): void;
  signal: AbortController;
}

export interface GetOptions {
  /** Headers for a hop to `url` (the Hub token goes only to the Hub's origin). */
  headers?: (url: URL) => HeadersInit;
  /** Origins the operator configured (the Hub): not address-checked, fetched as usual. */
  trusted?: (url: URL) => boolean;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export const systemResolver: Resolver = async (host, signal) => {
  const answers = await Promise.allSettled([
    Deno.resolveDns(host, "A", { signal }),
    Deno.resolveDns(host, "AAAA", { signal }),
  ]);
  const found = answers.flatMap((a) => (a.status === "fulfilled" ? a.value : []));
  if (found.length === 0 && answers[0].status === "rejected") throw answers[0].reason;
  return found;
};

/** One dataset's downloads: caps and deadline shared by every request it makes. */
export class FetchSession {
  readonly budget: ByteBudget;
  readonly #deadline: number;

  constructor(
    readonly caps: FetchCaps,
    readonly allow: AllowList,
    readonly deps: NetDeps,
    /** Names the dataset in messages (a redacted URL or a repo id). */
    readonly what: string,
  ) {
    this.budget = new ByteBudget(caps.maxBytes);
    this.#deadline = Date.now() + caps.totalMs;
  }

  fail(code: DatasetFailure, detail: string, options: DatasetErrorOptions = {}): DatasetError {
    return new DatasetError(`Cannot download dataset ${this.what}: ${detail}`, null, { ...options, code });
  }

  /** GETs `start`, following redirects by hand; resolves once a non-redirect answer's headers are in. */
  async get(start: URL, opts: GetOptions = {}): Promise<Fetched> {
    let url = start;
    for (let hop = 0;; hop++) {
      const fetched = await this.#hop(url, opts);
      const { response } = fetched;
      const location = response.headers.get("location");
      if (!REDIRECTS.has(response.status) || location === null) {
        if (response.ok) return fetched;
        await this.discard(fetched);
        const retryable = response.status >= 500 || response.status === 429 || response.status === 408;
        throw this.fail("dataset_unreachable", `${redact(url)} answered ${response.status}`, { retryable });
      }
      await this.discard(fetched);
      if (hop >= MAX_REDIRECTS) {
        throw this.fail("dataset_unreachable", `more than ${MAX_REDIRECTS} redirects`);
      }
      try {
        url = new URL(location, url);
      } catch {
        throw this.fail("dataset_unreachable", `${redact(url)} redirects to an invalid URL`);
      }
    }
  }

  /** The body's chunks, each counted against `budget`; the hop is released when it ends or is left. */
  async *body(fetched: Fetched, budget = this.budget): AsyncGenerator<Uint8Array> {
    if (!fetched.response.body) return fetched.release();
    const reader = fetched.response.body.getReader();
    let done = false;
    try {
      for (;;) {
        const idle = () => `no data for ${this.caps.idleMs / 1000} s`;
        const chunk = await this.#within(fetched.signal, this.caps.idleMs, idle, () => reader.read());
        if (chunk.done) {
          done = true;
          return;
        }
        budget.used += chunk.value.length;
        if (budget.used > budget.max) {
          throw this.fail("dataset_too_large", `more than its limit of ${budget.max} bytes`);
        }
        yield chunk.value;
      }
    } finally {
      if (!done) await reader.cancel().catch(() => {});
      fetched.release();
    }
  }

  /** The whole body as text, up to `maxBytes` (for listings; not counted against the dataset). */
  async text(fetched: Fetched, maxBytes: number): Promise<string> {
    const parts: Uint8Array[] = [];
    for await (const chunk of this.body(fetched, new ByteBudget(maxBytes))) parts.push(chunk);
    return new TextDecoder().decode(await new Blob(parts as Uint8Array<ArrayBuffer>[]).arrayBuffer());
  }

  async #hop(url: URL, opts: GetOptions): Promise<Fetched> {
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw this.fail("dataset_forbidden_address", `${redact(url)}: only http and https are fetched`);
    }
    const signal = new AbortController();
    let route: PinnedClient | null = null;
    let released = false;
    const release = () => {
      if (!released) route?.close();
      released = true;
    };
    const first = () => `no answer from ${redact(url)} within ${this.caps.firstByteMs / 1000} s`;
    try {
      // One timer from the name lookup to the answer's headers: a slow resolver is a slow host.
      const response = await this.#within(signal, this.caps.firstByteMs, first, async () => {
        const pinned = await this.#route(url, opts, signal);
        if (released) { // the timer fired while the name was looked up: nobody will free it later
          pinned?.close();
          throw signal.signal.reason;
        }
        route = pinned;
        const init: RequestInit = {
          redirect: "manual",
          headers: opts.headers?.(url),
          signal: signal.signal,
          ...(route && { client: route.client }),
        };
        return await (this.deps.fetch ?? fetch)(url, init);
      });
      return { response, url, release, signal };
    } catch (e) {
      release();
      throw e;
    }
  }

  /**
   * Where a request to `url` may connect: null for a trusted origin or a host the operator allows
   * by name (fetched as usual), else a client pinned to the one address checked here.
   */
  async #route(url: URL, opts: GetOptions, signal: AbortController): Promise<PinnedClient | null> {
    if (opts.trusted?.(url) || this.allow.allowsName(url.hostname)) return null;
    const host = unbracket(url.hostname);
    let addresses: string[];
    if (isIpLiteral(host)) addresses = [host];
    else if (isLocalhostName(host)) addresses = ["127.0.0.1", "::1"];
    else {
      try {
        addresses = await (this.deps.resolveDns ?? systemResolver)(host, signal.signal);
      } catch (e) {
        if (e instanceof DatasetError) throw e;
        throw this.fail("dataset_unreachable", `cannot resolve "${host}"`, { retryable: true, cause: e });
      }
    }
    if (addresses.length === 0) {
      throw this.fail("dataset_unreachable", `"${host}" has no address`, { retryable: true });
    }
    // Every answer must pass: a name that also points inside is refused, not steered around.
    const inside = addresses.find((a) => !this.allow.permits(a));
    if (inside !== undefined) {
      throw this.fail("dataset_forbidden_address", `${redact(url)} resolves to non-public address ${inside}`);
    }
    return pinnedClient(url, addresses[0]);
  }

  /**
   * Runs `step` under a timer of `ms` (cut to the session's deadline); on expiry aborts the hop and
   * throws dataset_timeout. Any other failure that is not ours becomes a retryable
   * dataset_unreachable (connection refused, reset, TLS).
   */
  async #within<T>(
    signal: AbortController,
    ms: number,
    what: () => string,
    step: () => Promise<T>,
  ): Promise<T> {
    const left = this.#deadline - Date.now();
    let why: DatasetError | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const detail = left <= ms ? `not done within ${this.caps.totalMs / 1000} s` : what();
        why = this.fail("dataset_timeout", detail);
        signal.abort(why);
        reject(why);
      }, Math.max(0, Math.min(ms, left)));
    });
    expired.catch(() => {}); // settled by the race, or never
    try {
      return await Promise.race([step(), expired]);
    } catch (e) {
      if (why) throw why;
      if (e instanceof DatasetError) throw e;
      throw this.fail("dataset_unreachable", errorText(e), { retryable: true, cause: e });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Drops what is left of an answer and frees its hop; harmless after `body()` has run. */
  async discard(fetched: Fetched): Promise<void> {
    await fetched.response.body?.cancel().catch(() => {});
    fetched.release();
  }
}

/** A URL for messages: no credentials or query (signed CDN links carry secrets there). */
export function redact(url: URL): string {
  const u = new URL(url);
  u.username = "";
  u.password = "";
  u.search = "";
  return u.toString();
}

function errorText(e: unknown): string {
  const cause = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : "";
  return e instanceof Error ? `${e.message}${cause}` : String(e);
}
