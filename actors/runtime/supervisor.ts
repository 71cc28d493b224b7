/**
 * One-for-one supervisor, specified as data like OTP's `init/1`: children start in order and stop in
 * reverse; a crashed child restarts alone after an exponential backoff. Past the intensity limit the
 * supervisor stops every child cleanly and its `done` rejects with an EscalationError, so the parent
 * (another supervisor, or main.ts which exits non-zero) decides. A supervisor is itself a `Child`.
 */
import { getLogger } from "@logtape/logtape";
import { EscalationError } from "../../core/errors.ts";
import { type Child, type Clock, realClock } from "./actor.ts";
import { type Backoff, backoffDelay, prune, recordRestart, type RestartWindow } from "./intensity.ts";

const log = getLogger(["satori", "supervisor"]);

/** permanent: always restarted; transient: only after a crash; temporary: never. */
export type RestartPolicy = "permanent" | "transient" | "temporary";

export interface ChildSpec {
  id: string;
  start: () => Child | Promise<Child>;
  /** How long a graceful stop may take before the child is abandoned. Default 5000 ms. */
  shutdownMs?: number;
  /** Default "permanent". */
  restart?: RestartPolicy;
}

export interface SupervisorSpec {
  name: string;
  strategy: "one_for_one";
  /** Restarts allowed within `periodMs` across all children; one more escalates. */
  intensity: number;
  periodMs: number;
  backoff: Backoff;
  children: ChildSpec[];
  clock?: Clock;
  /** Source of jitter, [0, 1). */
  random?: () => number;
}

export interface RestartCounts {
  total: number;
  byChild: Record<string, number>;
}

export interface Supervisor extends Child, AsyncDisposable {
  /** Lifetime restart counts, for /metrics. */
  restarts(): RestartCounts;
  /** The running instance of a child, or undefined while it is down (it changes on restart). */
  child<C extends Child = Child>(id: string): C | undefined;
}

const DEFAULT_SHUTDOWN_MS = 5_000;

interface Entry {
  spec: ChildSpec;
  child?: Child;
  timer?: unknown;
  restarts: number;
  /** This child's recent restarts: the backoff attempt number. */
  window: RestartWindow;
}

class OneForOne implements Supervisor {
  readonly name: string;
  readonly done: Promise<void>;
  #entries: Entry[];
  #status: "starting" | "running" | "stopping" | "stopped" = "starting";
  #window: RestartWindow = [];
  #clock: Clock;
  #resolve!: () => void;
  #reject!: (e: unknown) => void;
  #stopping?: Promise<void>;

  constructor(private readonly spec: SupervisorSpec) {
    this.name = spec.name;
    this.#clock = spec.clock ?? realClock;
    this.#entries = spec.children.map((c) => ({ spec: c, restarts: 0, window: [] }));
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.done.catch(() => {}); // the parent or main.ts watches; an unwatched escalation must not crash
  }

  /** Starts children in order; the first that fails stops the started ones and escalates. */
  async startAll(): Promise<void> {
    for (const entry of this.#entries) {
      try {
        const child = await entry.spec.start();
        // stop() came while this child was starting: it is stopped with the rest, in reverse.
        if (this.#status !== "starting") {
          return void (await child.stop(entry.spec.shutdownMs ?? DEFAULT_SHUTDOWN_MS));
        }
        this.#watch(entry, child);
      } catch (e) {
        const err = new EscalationError(this.name, entry.spec.id, "start", 0, { cause: e });
        log.error("{message}", { message: err.message, supervisor: this.name, child: entry.spec.id });
        await this.#stopChildren();
        this.#status = "stopped";
        this.#reject(err);
        throw err;
      }
    }
    if (this.#status === "starting") this.#status = "running";
  }

  restarts(): RestartCounts {
    const byChild: Record<string, number> = {};
    for (const e of this.#entries) byChild[e.spec.id] = e.restarts;
    return { total: this.#entries.reduce((n, e) => n + e.restarts, 0), byChild };
  }

  child<C extends Child = Child>(id: string): C | undefined {
    return this.#entries.find((e) => e.spec.id === id)?.child as C | undefined;
  }

  /** Stops children in reverse order; bounded by their shutdownMs, so `timeoutMs` is not needed. */
  stop(_timeoutMs?: number): Promise<void> {
    this.#stopping ??= (async () => {
      this.#status = "stopping";
      await this.#stopChildren();
      this.#status = "stopped";
      this.#resolve();
    })();
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  #active(): boolean {
    return this.#status === "starting" || this.#status === "running";
  }

  #watch(entry: Entry, child: Child): void {
    entry.child = child;
    child.done.then(
      () => this.#onExit(entry, child, undefined),
      (e) => this.#onExit(entry, child, e ?? new Error(`Child "${entry.spec.id}" crashed`)),
    );
  }

  #onExit(entry: Entry, child: Child, error: unknown): void {
    if (entry.child !== child || !this.#active()) return;
    entry.child = undefined;
    const policy = entry.spec.restart ?? "permanent";
    if (policy === "temporary" || (policy === "transient" && error === undefined)) {
      log.info("Child {child} of {supervisor} exited and is not restarted ({policy})", {
        supervisor: this.name,
        child: entry.spec.id,
        policy,
      });
      return;
    }
    this.#scheduleRestart(entry, error ?? new Error(`Child "${entry.spec.id}" exited`));
  }

  #scheduleRestart(entry: Entry, error: unknown): void {
    const now = this.#clock.now();
    const decision = recordRestart(this.#window, now, this.spec);
    if (decision.exceeded) {
      void this.#escalate(entry, error, decision.inPeriod - 1);
      return;
    }
    this.#window = decision.window;
    const recent = prune(entry.window, now, this.spec.periodMs);
    const delayMs = backoffDelay(recent.length, this.spec.backoff, this.spec.random);
    entry.window = [...recent, now];
    entry.restarts++;
    log.warn("Restarting child {child} of {supervisor} in {delayMs} ms (restart {restarts}): {reason}", {
      supervisor: this.name,
      child: entry.spec.id,
      delayMs,
      restarts: entry.restarts,
      reason: error instanceof Error ? error.message : String(error),
    });
    entry.timer = this.#clock.setTimeout(() => void this.#restart(entry), delayMs);
  }

  async #restart(entry: Entry): Promise<void> {
    entry.timer = undefined;
    if (!this.#active()) return;
    let child: Child;
    try {
      child = await entry.spec.start();
    } catch (e) {
      // A failed restart is one more crash: it counts against the intensity like any other.
      if (this.#active()) this.#scheduleRestart(entry, e);
      return;
    }
    if (!this.#active()) return void (await child.stop(entry.spec.shutdownMs ?? DEFAULT_SHUTDOWN_MS));
    this.#watch(entry, child);
  }

  async #escalate(entry: Entry, error: unknown, restarts: number): Promise<void> {
    const err = new EscalationError(this.name, entry.spec.id, "restart", restarts, { cause: error });
    log.error("{message}", { message: err.message, supervisor: this.name, child: entry.spec.id, restarts });
    this.#status = "stopping";
    await this.#stopChildren();
    this.#status = "stopped";
    this.#reject(err);
  }

  async #stopChildren(): Promise<void> {
    for (const entry of [...this.#entries].reverse()) {
      this.#clock.clearTimeout(entry.timer);
      entry.timer = undefined;
      const child = entry.child;
      entry.child = undefined;
      if (child) await child.stop(entry.spec.shutdownMs ?? DEFAULT_SHUTDOWN_MS);
    }
  }
}

/**
 * Starts the children in order and returns the running supervisor. Rejects with an EscalationError
 * (context "start") when a child fails to start, after stopping those already started.
 */
export async function startSupervisor(spec: SupervisorSpec): Promise<Supervisor> {
  const sup = new OneForOne(spec);
  await sup.startAll();
  return sup;
}
