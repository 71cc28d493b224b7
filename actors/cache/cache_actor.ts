/**
 * CacheActor: owns the base-model cache (`training.cache_dir`, the Hugging Face layout every trainer
 * reads through HF_HUB_CACHE). At start it prefetches the configured Hub base models one at a time
 * (`python -m trainer prefetch`: resumable, verified), logging progress; every tick it fetches what a
 * task in the store needs and is missing, records which models tasks train on (the LRU order) and
 * evicts the least recently used models no task needs while the cache is over `training.cache_max_gb`.
 * Receives `snapshot`; publishes each change to `publish` (the queue's download estimate reads it).
 */
import { getLogger } from "@logtape/logtape";
import { assertNever } from "../../core/errors.ts";
import type { CachedModel, ModelCacheSnapshot, PrefetchEvent } from "../../core/model_cache.ts";
import { isHubModel } from "../../core/model_cache.ts";
import type { Store } from "../../core/store.ts";
import { TERMINAL_STATES } from "../../core/task.ts";
import type { CacheMsg } from "../protocol.ts";
import { type ActorRef, type Clock, realClock, spawn } from "../runtime/actor.ts";
import { deleteModel, readUsage, scanCache, writeUsage } from "./cache_disk.ts";
import { evictionPlan } from "./eviction.ts";
import { type PrefetchOptions, type PrefetchRun, startPrefetch } from "./prefetch_process.ts";

const log = getLogger(["satori", "cache"]);
const LOG_EVERY_MS = 30_000;
/** A model whose prefetch failed (gated, not found, network) is tried again for a task after this long. */
const RETRY_FAILED_MS = 5 * 60_000;

export type CacheDeps = Omit<PrefetchOptions, "model"> & {
  budgetBytes: number;
  /** The configured base models: Hub ids are prefetched at start, local folders ignored. */
  models: readonly string[];
  store: Store;
  usageFile: string;
  publish?: (snapshot: ModelCacheSnapshot) => void;
  tickMs?: number;
  clock?: Clock;
};

type Private =
  | { type: "tick" }
  | { type: "event"; event: PrefetchEvent }
  | { type: "exited"; model: string; code: number; stderr: string };
type Msg = CacheMsg | Private;

type State = {
  deps: CacheDeps;
  clock: Clock;
  models: Map<string, CachedModel>;
  usage: Map<string, number>;
  todo: string[];
  failedAt: Map<string, number>;
  run: { model: string; proc: PrefetchRun; startMs: number; startBytes: number; loggedMs: number } | null;
  offline: boolean;
  self: ActorRef<Msg>;
  timer: unknown;
};

export function startCacheActor(deps: CacheDeps): ActorRef<CacheMsg> {
  return spawn<Msg, State>({
    name: "cache",
    capacity: 1_024,
    clock: deps.clock,
    init: async ({ self, clock }) => {
      const state: State = {
        deps,
        clock: deps.clock ?? clock ?? realClock,
        models: new Map(),
        usage: await readUsage(deps.usageFile),
        todo: [],
        failedAt: new Map(),
        run: null,
        offline: ["1", "true", "yes"].includes((deps.env?.HF_HUB_OFFLINE ?? "").toLowerCase()),
        self,
        timer: undefined,
      };
      await rescan(state);
      for (const m of deps.models.filter(isHubModel)) want(state, m);
      if (state.offline) log.info("HF_HUB_OFFLINE is set: base models are not prefetched");
      self.offer({ type: "tick" });
      return state;
    },
    handle,
    onStop: async (state) => {
      state.clock.clearTimeout(state.timer);
      state.run?.proc.stop(); // the partial blob stays: the next start resumes it
      await state.run?.proc.done;
    },
  });
}

async function handle(state: State, msg: Msg): Promise<void> {
  switch (msg.type) {
    case "snapshot":
      return msg.reply(snapshot(state));
    case "tick":
      return await tick(state);
    case "event":
      return onEvent(state, msg.event);
    case "exited":
      return await onExited(state, msg.model, msg.code, msg.stderr);
    default:
      assertNever(msg);
  }
}

function snapshot(state: State): ModelCacheSnapshot {
  const models = [...state.models.values()].map((m) => ({
    ...m,
    lastUsedMs: state.usage.get(m.model) ?? null,
  }));
  const usedBytes = models.reduce((n, m) => n + (m.state === "evicted" ? 0 : m.doneBytes), 0);
  return { cacheDir: state.deps.cacheDir, budgetBytes: state.deps.budgetBytes, usedBytes, models };
}

function publish(state: State): void {
  state.deps.publish?.(snapshot(state));
}

function entry(state: State, model: string): CachedModel {
  let m = state.models.get(model);
  if (!m) {
    m = {
      model,
      state: "waiting",
      doneBytes: 0,
      totalBytes: null,
      bytesPerS: null,
      lastUsedMs: null,
      message: null,
    };
    state.models.set(model, m);
  }
  return m;
}

/** Queues `model` for a (re)check unless it is queued or downloading already. */
function want(state: State, model: string): void {
  if (state.offline || state.todo.includes(model) || state.run?.model === model) return;
  const m = entry(state, model);
  if (m.state === "evicted") m.state = "waiting";
  state.todo.push(model);
}

async function rescan(state: State): Promise<void> {
  for (const d of await scanCache(state.deps.cacheDir)) {
    const m = entry(state, d.model);
    m.doneBytes = d.bytes;
    if (d.complete && m.state !== "downloading") m.state = "cached";
  }
}

/** Fetches what stored tasks need, records what they train on, evicts, and starts the next download. */
async function tick(state: State): Promise<void> {
  state.clock.clearTimeout(state.timer);
  const needed = new Set<string>();
  const now = state.clock.now();
  let used = false;
  for await (const t of state.deps.store.tasks()) {
    if (TERMINAL_STATES.has(t.state)) continue;
    const model = t.request.training.base_model;
    if (!isHubModel(model)) continue;
    needed.add(model);
    if (t.state === "training") (state.usage.set(model, now), used = true);
  }
  for (const model of needed) {
    const m = state.models.get(model);
    const resting = m?.state === "failed" && now - (state.failedAt.get(model) ?? 0) < RETRY_FAILED_MS;
    if (m?.state !== "cached" && !resting) want(state, model);
  }
  if (used) await writeUsage(state.deps.usageFile, state.usage);
  await evict(state, needed);
  next(state);
  publish(state);
  state.timer = state.clock.setTimeout(() => state.self.offer({ type: "tick" }), state.deps.tickMs ?? 30_000);
}

function next(state: State): void {
  if (state.run || state.todo.length === 0) return;
  const model = state.todo.shift()!;
  const m = entry(state, model);
  const { self } = state;
  let proc: PrefetchRun;
  try {
    proc = startPrefetch({ ...state.deps, model }, (event) => void self.offer({ type: "event", event }));
  } catch (e) { // no such python: an operator's mistake the preflight names, not a reason to crash
    Object.assign(m, {
      state: "failed",
      message: `Cannot run ${state.deps.python}: ${(e as Error).message}`,
    });
    state.failedAt.set(model, state.clock.now());
    return;
  }
  const now = state.clock.now();
  state.run = { model, proc, startMs: now, startBytes: m.doneBytes, loggedMs: now };
  void proc.done.then(({ code, stderr }) => self.offer({ type: "exited", model, code, stderr }));
}

function onEvent(state: State, e: PrefetchEvent): void {
  const m = entry(state, e.model);
  const run = state.run?.model === e.model ? state.run : null;
  const gb = (n: number) => `${(n / 1e9).toFixed(2)} GB`;
  switch (e.event) {
    case "prefetch_start":
      m.totalBytes = e.total_bytes;
      if (e.cached_bytes < e.total_bytes) {
        m.state = "downloading";
        m.doneBytes = e.cached_bytes;
        if (run) Object.assign(run, { startBytes: e.cached_bytes, startMs: state.clock.now() });
        log.info("Prefetching base model {model}: {total} at {commit}, {cached} already here", {
          model: e.model,
          total: gb(e.total_bytes),
          commit: e.commit.slice(0, 12),
          cached: gb(e.cached_bytes),
        });
      }
      break;
    case "prefetch_progress": {
      m.doneBytes = e.done_bytes;
      const now = state.clock.now();
      if (run && now > run.startMs) {
        m.bytesPerS = (e.done_bytes - run.startBytes) / ((now - run.startMs) / 1000);
      }
      if (run && now - run.loggedMs >= LOG_EVERY_MS) {
        run.loggedMs = now;
        const left = m.bytesPerS ? Math.ceil((e.total_bytes - e.done_bytes) / m.bytesPerS) : null;
        log.info("Base model {model}: {pct}% of {total} at {rate} MB/s, {left} left", {
          model: e.model,
          pct: Math.floor((100 * e.done_bytes) / Math.max(1, e.total_bytes)),
          total: gb(e.total_bytes),
          rate: ((m.bytesPerS ?? 0) / 1e6).toFixed(1),
          left: left === null ? "?" : `${left} s`,
        });
      }
      break;
    }
    case "prefetch_done":
      if (m.state !== "cached") {
        log.info("Base model {model} is cached ({total}{checked}) in {path}", {
          model: e.model,
          total: gb(e.total_bytes),
          checked: e.checked ? ", verified" : ", not re-checked: the Hub is out of reach",
          path: e.path,
        });
      }
      Object.assign(m, {
        state: "cached",
        doneBytes: e.total_bytes,
        totalBytes: e.total_bytes,
        message: null,
      });
      if (!state.usage.has(e.model)) state.usage.set(e.model, state.clock.now());
      break;
    case "prefetch_error":
      Object.assign(m, { state: "failed", message: `${e.message} (${e.code})` });
      state.failedAt.set(e.model, state.clock.now());
      log.warn("Cannot prefetch base model {model}: {message}", { model: e.model, message: m.message });
      break;
    default:
      assertNever(e);
  }
  publish(state);
}

async function onExited(state: State, model: string, code: number, stderr: string): Promise<void> {
  if (state.run?.model !== model) return;
  state.run = null;
  const m = entry(state, model);
  if (code !== 0 && m.state !== "failed") {
    m.state = "failed";
    state.failedAt.set(model, state.clock.now());
    m.message = `the prefetch exited with status ${code}: ${stderr.trim().split("\n").at(-1) ?? ""}`;
    log.warn("Cannot prefetch base model {model}: {message}", { model, message: m.message });
  }
  await writeUsage(state.deps.usageFile, state.usage);
  await rescan(state);
  await evict(state, new Set(state.todo));
  next(state);
  publish(state);
}

/** Deletes the least recently used models no task needs while the cache is over its budget. */
async function evict(state: State, needed: ReadonlySet<string>): Promise<void> {
  const keep = new Set([...needed, ...(state.run ? [state.run.model] : [])]);
  const onDisk = [...state.models.values()].filter((m) => m.state !== "evicted" && m.doneBytes > 0)
    .map((m) => ({ model: m.model, bytes: m.doneBytes, lastUsedMs: state.usage.get(m.model) ?? null }));
  const plan = evictionPlan(onDisk, state.deps.budgetBytes, keep);
  for (const model of plan.evict) {
    await deleteModel(state.deps.cacheDir, model);
    const m = entry(state, model);
    log.info(
      "Evicted base model {model} ({gb} GB, least recently used) to keep the cache under {budget} GB",
      {
        model,
        gb: (m.doneBytes / 1e9).toFixed(2),
        budget: (state.deps.budgetBytes / 1e9).toFixed(1),
      },
    );
    Object.assign(m, { state: "evicted", doneBytes: 0, bytesPerS: null });
  }
}
