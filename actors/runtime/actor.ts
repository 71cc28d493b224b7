/**
 * The in-process actor: one owner of some state, fed by a bounded mailbox and handling one message
 * at a time, so state needs no locks. A full mailbox refuses the sender (backpressure, never silent
 * loss). A handler that throws crashes only its own actor: `done` rejects and the supervisor decides.
 * Timers go through an injected `Clock` so tests drive time with fake timers instead of sleeping.
 */
import { ActorStoppedError, AskTimeoutError, MailboxFullError } from "../../core/errors.ts";

/** The time source actors and supervisors use; tests pass a fake one. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as number),
};

/**
 * Something a supervisor can run: in-process actors, Web Worker actors and supervisors all are.
 * `done` resolves on a clean stop and rejects with the error that crashed it; it is pre-handled,
 * so an unwatched crash never becomes an unhandled rejection.
 */
export interface Child {
  readonly name: string;
  readonly done: Promise<void>;
  /** Asks the child to finish its work and persist; gives up after `timeoutMs`. Never rejects. */
  stop(timeoutMs?: number): Promise<void>;
}

/** The reply slot carried by a message; the first call wins, later ones are ignored. */
export type Reply<T> = (value: T) => void;
/** The reply type a message expects, read from its `reply` field. */
export type ReplyOf<M> = M extends { reply: Reply<infer T> } ? T : never;

export type ActorStatus = "starting" | "running" | "stopping" | "stopped" | "crashed";

export interface ActorRef<M> extends Child, AsyncDisposable {
  readonly status: ActorStatus;
  readonly capacity: number;
  readonly mailboxSize: number;
  readonly clock: Clock;
  /** Enqueues `msg`, or returns the refusal; prefer `tell` / `ask`. */
  offer(msg: M): MailboxFullError | ActorStoppedError | undefined;
  /** Calls `fn` once when the actor ends (stop or crash); returns the unsubscribe. */
  onExit(fn: (error: unknown) => void): () => void;
}

export interface ActorContext<M> {
  readonly self: ActorRef<M>;
  readonly clock: Clock;
}

export interface ActorSpec<M, S> {
  name: string;
  /** Mailbox bound; a full mailbox refuses new messages. Default 64. */
  capacity?: number;
  clock?: Clock;
  /** Used by `stop()` without an argument and by `await using`. Default 5000 ms. */
  stopTimeoutMs?: number;
  /** Builds fresh state, so a restart starts clean; throwing crashes the actor. */
  init: (ctx: ActorContext<M>) => S | Promise<S>;
  /** Handles one message; may mutate `state` or return a replacement. Throwing crashes the actor. */
  handle: (state: S, msg: M, ctx: ActorContext<M>) => S | void | Promise<S | void>;
  /** Runs once on a graceful stop after the mailbox drains: clear timers, persist in-flight work. */
  onStop?: (state: S, ctx: ActorContext<M>) => void | Promise<void>;
}

const DEFAULT_CAPACITY = 64;
const DEFAULT_STOP_MS = 5_000;
export const DEFAULT_ASK_TIMEOUT_MS = 5_000;

function typeOf(msg: unknown): string {
  const t = (msg as { type?: unknown } | null)?.type;
  return typeof t === "string" ? t : "message";
}

class Actor<M, S> implements ActorRef<M> {
  readonly name: string;
  readonly capacity: number;
  readonly clock: Clock;
  readonly done: Promise<void>;
  #status: ActorStatus = "starting";
  #queue: M[] = [];
  #draining = false;
  #state!: S;
  #exitListeners = new Set<(error: unknown) => void>();
  #resolveDone!: () => void;
  #rejectDone!: (e: unknown) => void;
  #ctx: ActorContext<M>;
  #stopTimer: unknown;

  constructor(private readonly spec: ActorSpec<M, S>) {
    this.name = spec.name;
    this.capacity = spec.capacity ?? DEFAULT_CAPACITY;
    this.clock = spec.clock ?? realClock;
    this.#ctx = { self: this, clock: this.clock };
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolveDone = resolve;
      this.#rejectDone = reject;
    });
    this.done.catch(() => {}); // a crash with no watcher must not kill the process
    void this.#run(async () => {
      this.#state = await spec.init(this.#ctx);
      if (this.#status === "starting") this.#status = "running";
    });
  }

  get status(): ActorStatus {
    return this.#status;
  }

  get mailboxSize(): number {
    return this.#queue.length;
  }

  offer(msg: M): MailboxFullError | ActorStoppedError | undefined {
    if (this.#status !== "starting" && this.#status !== "running") {
      return new ActorStoppedError(this.name, typeOf(msg));
    }
    if (this.#queue.length >= this.capacity) {
      return new MailboxFullError(this.name, typeOf(msg), this.capacity);
    }
    this.#queue.push(msg);
    if (!this.#draining) void this.#run(async () => {});
    return undefined;
  }

  onExit(fn: (error: unknown) => void): () => void {
    if (this.#status === "stopped" || this.#status === "crashed") {
      fn(new ActorStoppedError(this.name, "exit"));
      return () => {};
    }
    this.#exitListeners.add(fn);
    return () => this.#exitListeners.delete(fn);
  }

  stop(timeoutMs = this.spec.stopTimeoutMs ?? DEFAULT_STOP_MS): Promise<void> {
    if (this.#status === "stopping" || this.#status === "stopped" || this.#status === "crashed") {
      return this.done.catch(() => {});
    }
    this.#status = "stopping";
    // A handler stuck on I/O cannot be cancelled; past the bound the actor is abandoned, not awaited.
    this.#stopTimer = this.clock.setTimeout(() => {
      const err = new DOMException(
        `Actor "${this.name}" did not stop within ${timeoutMs} ms`,
        "TimeoutError",
      );
      this.#finish("crashed", err);
    }, timeoutMs);
    if (!this.#draining) void this.#run(async () => {});
    return this.done.catch(() => {});
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /** Runs `first` then drains the mailbox one message at a time; the only place handlers run. */
  async #run(first: () => Promise<void>): Promise<void> {
    this.#draining = true;
    try {
      await first();
      while (this.#queue.length > 0 && this.#alive()) {
        const msg = this.#queue.shift()!;
        const next = await this.spec.handle(this.#state, msg, this.#ctx);
        if (next !== undefined) this.#state = next as S;
      }
      if (this.#status === "stopping") {
        await this.spec.onStop?.(this.#state, this.#ctx);
        this.#finish("stopped");
      }
    } catch (e) {
      this.#finish("crashed", e);
    } finally {
      this.#draining = false;
    }
  }

  #alive(): boolean {
    return this.#status === "running" || this.#status === "stopping" || this.#status === "starting";
  }

  #finish(status: "stopped" | "crashed", error?: unknown): void {
    if (!this.#alive()) return;
    this.#status = status;
    this.clock.clearTimeout(this.#stopTimer);
    this.#queue = [];
    const exit = new ActorStoppedError(this.name, "exit");
    if (error !== undefined) exit.cause = error;
    for (const fn of this.#exitListeners) fn(exit);
    this.#exitListeners.clear();
    if (status === "stopped") this.#resolveDone();
    else this.#rejectDone(error);
  }
}

/** Starts an actor; its state comes from `spec.init`, so each call starts clean. */
export function spawn<M, S>(spec: ActorSpec<M, S>): ActorRef<M> {
  return new Actor(spec);
}

/** Fire and forget. Throws the typed refusal (MailboxFullError, ActorStoppedError) so loss is never silent. */
export function tell<M>(ref: ActorRef<M>, msg: M): void {
  const refused = ref.offer(msg);
  if (refused) throw refused;
}

export interface AskOptions {
  timeoutMs?: number;
  /** Defaults to the target actor's clock. */
  clock?: Clock;
}

// deno-lint-ignore no-explicit-any
type AnyReply = Reply<any>;

/**
 * Request/response: builds the message around a fresh reply slot and resolves with the reply.
 * Rejects with MailboxFullError or ActorStoppedError when refused, ActorStoppedError when the actor
 * ends before replying, and AskTimeoutError after `timeoutMs`. The reply type comes from the message.
 */
export function ask<M extends { type: string }, const K extends M>(
  ref: ActorRef<M>,
  make: (reply: AnyReply) => K,
  opts: AskOptions = {},
): Promise<ReplyOf<Extract<M, { type: K["type"] }>>> {
  type T = ReplyOf<Extract<M, { type: K["type"] }>>;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_ASK_TIMEOUT_MS;
  const clock = opts.clock ?? ref.clock;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let unwatch = () => {};
    let type = "message";
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clock.clearTimeout(timer);
      unwatch();
      fn();
    };
    const timer = clock.setTimeout(
      () => settle(() => reject(new AskTimeoutError(ref.name, type, timeoutMs))),
      timeoutMs,
    );
    const msg = make((value: T) => settle(() => resolve(value)));
    type = msg.type;
    const refused = ref.offer(msg);
    if (refused) return settle(() => reject(refused));
    if (settled) return;
    unwatch = ref.onExit((exit) => {
      const err = new ActorStoppedError(ref.name, type);
      err.cause = (exit as Error).cause ?? exit;
      settle(() => reject(err));
    });
  });
}
