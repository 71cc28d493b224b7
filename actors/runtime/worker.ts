/**
 * An actor in a Web Worker, reached through comlink. Comlink leaves a call pending forever when the
 * worker dies (comlink#601), so every call races the worker's death and a timeout. The worker's
 * methods return result unions and never throw; an uncaught error in the worker, or `kill()`, ends
 * the worker and rejects `done`, which the supervisor treats as a crash like any other actor's.
 */
import * as Comlink from "comlink";
import { ActorStoppedError, AskTimeoutError } from "../../core/errors.ts";
import { type Child, type Clock, DEFAULT_ASK_TIMEOUT_MS, realClock } from "./actor.ts";

/** The keys of `T` that are methods, the only thing a caller may invoke across the boundary. */
// deno-lint-ignore no-explicit-any
export type MethodKeys<T> = { [K in keyof T]: T[K] extends (...args: any[]) => unknown ? K : never }[keyof T];
// deno-lint-ignore no-explicit-any
type Fn<T, K extends keyof T> = T[K] extends (...args: any[]) => unknown ? T[K] : never;

export interface WorkerActorOptions<T> {
  clock?: Clock;
  /** Default timeout for `call`. Default 5000 ms. */
  callTimeoutMs?: number;
  /** Runs on a graceful stop before the worker is terminated, e.g. to persist in-flight work. */
  onStop?: (call: WorkerActor<T>["call"]) => Promise<unknown>;
  /** Default for `stop()` without an argument and for `await using`. Default 5000 ms. */
  stopTimeoutMs?: number;
}

export interface CallOptions {
  timeoutMs?: number;
}

export interface WorkerActor<T> extends Child, AsyncDisposable {
  readonly status: "running" | "stopping" | "stopped" | "crashed";
  /**
   * Calls `method` in the worker. Rejects with AskTimeoutError after the timeout, and with
   * ActorStoppedError (cause: the worker's error) when the worker is dead or dies meanwhile.
   */
  call<K extends MethodKeys<T>>(
    method: K,
    args: Parameters<Fn<T, K>>,
    opts?: CallOptions,
  ): Promise<Awaited<ReturnType<Fn<T, K>>>>;
  /** Terminates the worker at once and reports it as crashed with `reason`. */
  kill(reason?: Error): void;
}

class WorkerHandle<T> implements WorkerActor<T> {
  readonly done: Promise<void>;
  #status: WorkerActor<T>["status"] = "running";
  #worker: Worker;
  #remote: Comlink.Remote<T>;
  #clock: Clock;
  #deathListeners = new Set<(e: ActorStoppedError) => void>();
  #resolve!: () => void;
  #reject!: (e: unknown) => void;

  constructor(url: string | URL, readonly name: string, private readonly opts: WorkerActorOptions<T>) {
    this.#clock = opts.clock ?? realClock;
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.done.catch(() => {}); // the supervisor watches; an unwatched crash must not kill the process
    this.#worker = new Worker(url, { type: "module", name });
    this.#worker.addEventListener("error", (e) => {
      e.preventDefault(); // otherwise Deno rethrows the worker's error in this thread
      this.#end("crashed", new Error(`Worker "${name}" crashed: ${e.message}`, { cause: e.error }));
    });
    this.#worker.addEventListener("messageerror", () => {
      this.#end("crashed", new Error(`Worker "${name}" sent a message that cannot be deserialized`));
    });
    this.#remote = Comlink.wrap<T>(this.#worker as unknown as Comlink.Endpoint);
  }

  get status(): WorkerActor<T>["status"] {
    return this.#status;
  }

  call<K extends MethodKeys<T>>(
    method: K,
    args: Parameters<Fn<T, K>>,
    opts: CallOptions = {},
  ): Promise<Awaited<ReturnType<Fn<T, K>>>> {
    return this.#call(method, args, opts, false);
  }

  #call<K extends MethodKeys<T>>(
    method: K,
    args: Parameters<Fn<T, K>>,
    opts: CallOptions,
    duringStop: boolean,
  ): Promise<Awaited<ReturnType<Fn<T, K>>>> {
    type R = Awaited<ReturnType<Fn<T, K>>>;
    const label = String(method);
    if (this.#status !== "running" && !(duringStop && this.#status === "stopping")) {
      return Promise.reject(new ActorStoppedError(this.name, label));
    }
    const timeoutMs = opts.timeoutMs ?? this.opts.callTimeoutMs ?? DEFAULT_ASK_TIMEOUT_MS;
    return new Promise<R>((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        this.#clock.clearTimeout(timer);
        this.#deathListeners.delete(onDeath);
        fn();
      };
      const onDeath = (e: ActorStoppedError) => {
        const err = new ActorStoppedError(this.name, label);
        err.cause = e.cause;
        settle(() => reject(err));
      };
      this.#deathListeners.add(onDeath);
      const timer = this.#clock.setTimeout(
        () => settle(() => reject(new AskTimeoutError(this.name, label, timeoutMs))),
        timeoutMs,
      );
      const remote = this.#remote as unknown as Record<string, (...a: unknown[]) => Promise<R>>;
      remote[label](...(args as unknown[])).then(
        (value) => settle(() => resolve(value)),
        (e) => settle(() => reject(e)), // a broken contract (worker methods must not throw): surface it
      );
    });
  }

  kill(reason = new Error(`Worker "${this.name}" was killed`)): void {
    this.#end("crashed", reason);
  }

  async stop(timeoutMs = this.opts.stopTimeoutMs ?? 5_000): Promise<void> {
    if (this.#status !== "running") return this.done.catch(() => {});
    this.#status = "stopping";
    if (this.opts.onStop) {
      const call: WorkerActor<T>["call"] = (m, a, o) => this.#call(m, a, { timeoutMs, ...o }, true);
      // A failed or slow persist still ends in terminate: the stop is bounded either way.
      let timer: unknown;
      const deadline = new Promise<void>((r) => (timer = this.#clock.setTimeout(r, timeoutMs)));
      await Promise.race([this.opts.onStop(call).catch(() => {}), deadline]);
      this.#clock.clearTimeout(timer);
    }
    this.#end("stopped");
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  #end(status: "stopped" | "crashed", error?: unknown): void {
    if (this.#status === "stopped" || this.#status === "crashed") return;
    this.#status = status;
    this.#worker.terminate();
    const death = new ActorStoppedError(this.name, "exit");
    if (error !== undefined) death.cause = error;
    for (const fn of [...this.#deathListeners]) fn(death);
    this.#deathListeners.clear();
    if (status === "stopped") this.#resolve();
    else this.#reject(error);
  }
}

/** Starts `url` as a module worker exposing its API with `Comlink.expose`. */
export function startWorkerActor<T>(
  url: string | URL,
  name: string,
  opts: WorkerActorOptions<T> = {},
): WorkerActor<T> {
  return new WorkerHandle<T>(url, name, opts);
}
