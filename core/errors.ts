/**
 * The few error classes the miner throws. Expected outcomes are replies, not throws; these are
 * for failures. Each sets `name` (matched on across the worker boundary, where classes are lost)
 * and passes `cause`. Messages carry ids and URLs, never tokens or keys.
 */

/** A config file problem, located: `config.yml:12:3 miner.max_queue_size: expected ...`. */
export class ConfigError extends SyntaxError {
  override name = "ConfigError";
  constructor(
    readonly file: string,
    readonly line: number | null,
    readonly column: number | null,
    readonly keyPath: string,
    readonly detail: string,
    options?: ErrorOptions,
  ) {
    const where = line === null ? file : `${file}:${line}:${column ?? 1}`;
    super(keyPath ? `${where} ${keyPath}: ${detail}` : `${where}: ${detail}`, options);
  }
}

/** Several located config problems reported at once. */
export class ConfigErrors extends AggregateError {
  override name = "ConfigErrors";
  constructor(override readonly errors: ConfigError[]) {
    super(errors, errors.map((e) => e.message).join("\n"));
  }
}

/** A non-2xx HTTP response from a service we call. */
export class HttpStatusError extends Error {
  override name = "HttpStatusError";
  constructor(
    readonly status: number,
    readonly url: string,
    message: string,
    readonly requestId: string | null = null,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  /** Builds the error from a response, reading at most a short excerpt of its body. */
  static async fromResponse(action: string, res: Response): Promise<HttpStatusError> {
    const body = (await res.text().catch(() => "")).slice(0, 300);
    const requestId = res.headers.get("x-request-id");
    const url = redactUrl(res.url);
    return new HttpStatusError(
      res.status,
      url,
      `Cannot ${action}: ${url} answered ${res.status} ${res.statusText}${body ? ` "${body}"` : ""}`,
      requestId,
    );
  }
}

/** An `ask` got no reply in time. */
export class AskTimeoutError extends Error {
  override name = "AskTimeoutError";
  constructor(readonly actor: string, readonly messageType: string, readonly timeoutMs: number) {
    super(`Ask "${messageType}" to actor "${actor}" timed out after ${timeoutMs} ms`);
  }
}

/** The mailbox of an actor is full: the sender must back off (backpressure, not loss). */
export class MailboxFullError extends Error {
  override name = "MailboxFullError";
  constructor(readonly actor: string, readonly messageType: string, readonly capacity: number) {
    super(
      `Cannot deliver "${messageType}" to actor "${actor}": mailbox is full (${capacity} of ${capacity})`,
    );
  }
}

/** The actor is stopped or crashed and takes no messages. */
export class ActorStoppedError extends Error {
  override name = "ActorStoppedError";
  constructor(readonly actor: string, readonly messageType: string) {
    super(`Cannot deliver "${messageType}" to actor "${actor}": actor is stopped`);
  }
}

/**
 * A part of the miner cannot take the request now (an actor is restarting, its mailbox is full, or it
 * did not answer in time): the caller should come back after `retryAfterS`. The axon answers it with
 * 503 and `Retry-After`; it names what is busy and never carries a secret.
 */
export class UnavailableError extends Error {
  override name = "UnavailableError";
  constructor(readonly what: string, readonly retryAfterS: number, options?: ErrorOptions) {
    super(`Service Unavailable: the ${what} is busy or restarting; retry in ${retryAfterS} s`, options);
  }
}

/** Seconds a caller is told to wait when an actor is restarting: about one supervisor backoff. */
export const RETRY_AFTER_S = 5;

/**
 * The UnavailableError an actor failure means for a caller: an ask refused or unanswered because the
 * actor is stopped, full or slow. Null for anything else, which stays a failure.
 */
export function unavailableOf(e: unknown): UnavailableError | null {
  if (e instanceof UnavailableError) return e;
  if (e instanceof ActorStoppedError || e instanceof MailboxFullError || e instanceof AskTimeoutError) {
    return new UnavailableError(`${e.actor} actor`, RETRY_AFTER_S, { cause: e });
  }
  return null;
}

/** A supervisor gave up on a child: the miner must stop and exit non-zero. */
export class EscalationError extends Error {
  override name = "EscalationError";
  constructor(
    readonly supervisor: string,
    readonly child: string,
    readonly context: "start" | "restart" | "stop",
    readonly restarts: number,
    options?: ErrorOptions,
  ) {
    const reason = options?.cause instanceof Error
      ? options.cause.message
      : String(options?.cause ?? "unknown");
    super(
      `Supervisor "${supervisor}" gave up on child "${child}" (${context}) after ${restarts} restarts in period: ${reason}`,
      options,
    );
  }
}

/** An illegal task state transition. */
export class TransitionError extends Error {
  override name = "TransitionError";
  constructor(readonly taskId: string, readonly from: string, readonly event: string) {
    super(`Cannot apply "${event}" to task "${taskId}" in state "${from}"`);
  }
}

/**
 * A wallet file cannot be used: missing, unreadable, encrypted with no or a wrong password, or inconsistent.
 * The message says which file and how to fix it (often a btcli command); it never carries key material or a
 * password.
 */
export class WalletError extends Error {
  override name = "WalletError";
  constructor(
    readonly file: string,
    readonly reason:
      | "missing"
      | "unreadable"
      | "invalid_json"
      | "encrypted"
      | "wrong_password"
      | "mismatch"
      | "invalid_key",
    message: string,
    readonly line: number | null = null,
    readonly column: number | null = null,
  ) {
    super(message);
  }
}

/** Strips userinfo and query strings, where credentials hide. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    u.search = "";
    return u.toString();
  } catch {
    return url;
  }
}

/** Exhaustiveness guard for `switch (msg.type)`. */
export function assertNever(x: never): never {
  throw new TypeError(`Unexpected message: ${JSON.stringify(x)}`);
}

/**
 * The chain cannot host this miner: its hotkey is not registered on the netuid, the subnet does not exist,
 * or the runtime lacks what the miner calls. The message says how to fix it (often a btcli command).
 */
export class ChainError extends Error {
  override name = "ChainError";
  constructor(
    readonly reason: "not_registered" | "no_subnet" | "unsupported_runtime",
    readonly endpoint: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
