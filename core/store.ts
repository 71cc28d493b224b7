/**
 * Durable state in Deno KV (SQLite on disk): task records, the priority index of queued tasks,
 * and the outbox of results still to deliver. The store records its schema version (store_schema.ts):
 * an older one is migrated in place when opened, a newer one (a newer miner wrote it) is refused. Every write is one `kv.atomic()` with versionstamp checks, so a
 * task record and its queue index never disagree, even across a crash mid-write. The batch calls
 * (`createTasks`, `updateTasks`) put up to 100 records in one atomic op (group commit): one disk
 * sync for many tasks, each still checked against the version it was read at.
 */
import { z } from "zod";
import { Task } from "./task.ts";
import { migrateStore } from "./store_schema.ts";

const V = "v1";
const taskKey = (id: string): Deno.KvKey => [V, "task", id];
const neg = (n: number) => (n === 0 ? 0 : -n); // -0 would be a key of its own
/** Dispatch order (actors/queue/priority.ts): the validator's stake, then its own priority, then arrival. */
const queueKey = (t: Task): Deno.KvKey => [
  V,
  "queue",
  neg(t.validator_stake_tao),
  neg(t.request.priority),
  t.received_ms,
  t.request.id,
];
const outboxKey = (taskId: string, kind: string): Deno.KvKey => [V, "outbox", taskId, kind];

/** Optimistic writes retry this often before a conflict is treated as a bug. */
const MAX_CONFLICT_RETRIES = 16;
/** Deno KV allows 100 checks per atomic op (one per record here) and `getMany` of 10 keys. */
const MAX_BATCH = 100;
const MAX_GET_MANY = 10;
/** Well under the 800 KiB of mutations an atomic op may carry (records are measured as JSON). */
const MAX_BATCH_CHARS = 400 * 1024;

/** A record as stored, with the versionstamp a later write checks against. */
export type Stamped = { task: Task; versionstamp: string };

export type CreateResult =
  | { ok: true; task: Task; versionstamp: string }
  | { ok: false; reason: "duplicate"; task: Task };

/**
 * One read-modify-write of a batch. `change` is pure, may run more than once on conflict, and
 * returns null to leave the record as it is. `known`: the record as the caller last wrote it; the
 * write checks its versionstamp instead of reading first (a stale one costs a re-read, never a loss).
 */
export type TaskUpdate = { id: string; change: (task: Task) => Task | null; known?: Stamped };

export class StoreCorruptError extends Error {
  override name = "StoreCorruptError";
}

export class Store implements AsyncDisposable {
  private constructor(private readonly kv: Deno.Kv, readonly path: string | undefined) {}

  /** Opens (creating) the store at `path`; no path gives an in-memory store for tests. */
  static async open(path?: string): Promise<Store> {
    if (path) {
      const dir = path.slice(0, path.lastIndexOf("/"));
      if (dir) await Deno.mkdir(dir, { recursive: true });
    }
    const kv = await Deno.openKv(path ?? ":memory:");
    try {
      await migrateStore(kv, path ?? ":memory:", { taskKey, queueKey, parseTask });
    } catch (e) {
      kv.close();
      throw e;
    }
    return new Store(kv, path);
  }

  async getTask(id: string): Promise<Task | null> {
    const entry = await this.kv.get(taskKey(id));
    return entry.value === null ? null : parseTask(id, entry.value);
  }

  /** The records of `ids` (null where absent), read 10 keys per KV call. */
  async getTasks(ids: readonly string[]): Promise<(Stamped | null)[]> {
    const reads = [];
    for (let i = 0; i < ids.length; i += MAX_GET_MANY) {
      reads.push(this.kv.getMany(ids.slice(i, i + MAX_GET_MANY).map(taskKey)));
    }
    return (await Promise.all(reads)).flat().map((e, i) =>
      e.versionstamp === null ? null : { task: parseTask(ids[i], e.value), versionstamp: e.versionstamp }
    );
  }

  /** Stores a new task; a second create with the same id returns the first (validators retry). */
  async createTask(task: Task): Promise<CreateResult> {
    return (await this.createTasks([task]))[0];
  }

  /**
   * Stores new tasks, up to 100 per atomic commit, answering each like `createTask`: a duplicate id
   * (stored before, or earlier in `tasks`) gives the record that was there first, and the rest are
   * written anyway.
   */
  async createTasks(tasks: readonly Task[]): Promise<CreateResult[]> {
    const results: CreateResult[] = new Array(tasks.length);
    const first = new Map<string, number>();
    const fresh: number[] = [];
    tasks.forEach((t, i) => {
      if (first.has(t.request.id)) return;
      first.set(t.request.id, i);
      fresh.push(i);
    });
    for (const chunk of chunked(fresh, (i) => tasks[i])) {
      let todo = chunk;
      while (todo.length > 0) {
        const op = this.kv.atomic();
        for (const i of todo) {
          const key = taskKey(tasks[i].request.id);
          op.check({ key, versionstamp: null }).set(key, tasks[i]);
          if (tasks[i].state === "queued") op.set(queueKey(tasks[i]), tasks[i].request.id);
        }
        const res = await op.commit();
        if (res.ok) {
          for (const i of todo) results[i] = { ok: true, task: tasks[i], versionstamp: res.versionstamp };
          break;
        }
        // Some id is taken: answer those as duplicates and write the others.
        const stored = await this.getTasks(todo.map((i) => tasks[i].request.id));
        const rest = todo.filter((i, k) => {
          const s = stored[k];
          if (s) results[i] = { ok: false, reason: "duplicate", task: s.task };
          return !s;
        });
        if (rest.length === todo.length) {
          const id = tasks[todo[0]].request.id;
          throw new StoreCorruptError(`Cannot create task "${id}": conflicting write vanished`);
        }
        todo = rest;
      }
    }
    tasks.forEach((t, i) => {
      const at = first.get(t.request.id)!;
      if (at !== i) results[i] = { ok: false, reason: "duplicate", task: results[at].task };
    });
    return results;
  }

  /**
   * Read-modify-write of one task: `change` is pure and may run more than once on conflict.
   * Keeps the queue index in step with the state in the same atomic commit.
   */
  async updateTask(id: string, change: (task: Task) => Task): Promise<Task> {
    return (await this.updateTasks([{ id, change }]))[0].task;
  }

  /**
   * `updateTask` for many tasks, up to 100 per atomic commit; each record is checked against the
   * version it was read at (or `known`), and a conflict re-reads that commit's records and retries.
   * Returns each record as it now is. An id may appear once per call.
   */
  async updateTasks(updates: readonly TaskUpdate[]): Promise<Stamped[]> {
    const seen = new Set<string>();
    for (const { id } of updates) {
      if (seen.has(id)) throw new RangeError(`Cannot update task "${id}" twice in one batch`);
      seen.add(id);
    }
    const out: Stamped[] = [];
    for (const chunk of chunked(updates, (u) => u.known?.task)) out.push(...await this.#updateChunk(chunk));
    return out;
  }

  async #updateChunk(chunk: readonly TaskUpdate[]): Promise<Stamped[]> {
    let known: (Stamped | null)[] = chunk.map((u) => u.known ?? null);
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      const missing = chunk.filter((_, k) => known[k] === null).map((u) => u.id);
      const read = missing.length ? await this.getTasks(missing) : [];
      known = known.map((s) => s ?? read.shift() ?? null);
      const op = this.kv.atomic();
      const after = chunk.map((u, k) => {
        const before = known[k];
        if (before === null) throw new Deno.errors.NotFound(`Cannot update task "${u.id}": no such task`);
        const next = u.change(before.task);
        if (next === null) return null;
        op.check({ key: taskKey(u.id), versionstamp: before.versionstamp }).set(taskKey(u.id), next);
        if (before.task.state === "queued") op.delete(queueKey(before.task));
        if (next.state === "queued") op.set(queueKey(next), u.id);
        return next;
      });
      const res = after.some((t) => t !== null) ? await op.commit() : { ok: true as const, versionstamp: "" };
      if (res.ok) {
        return after.map((t, k) => t === null ? known[k]! : { task: t, versionstamp: res.versionstamp });
      }
      known = chunk.map(() => null);
    }
    throw new StoreCorruptError(
      `Cannot update task "${chunk[0].id}": ${MAX_CONFLICT_RETRIES} write conflicts in a row`,
    );
  }

  /** Every task record, in id order. */
  async *tasks(): AsyncIterableIterator<Task> {
    for await (const { task } of this.stampedTasks()) yield task;
  }

  /** Every task record with its versionstamp, in id order. */
  async *stampedTasks(): AsyncIterableIterator<Stamped> {
    for await (const entry of this.kv.list({ prefix: [V, "task"] })) {
      yield { task: parseTask(String(entry.key[2]), entry.value), versionstamp: entry.versionstamp };
    }
  }

  /** Ids of queued tasks, highest priority first, then by arrival. */
  async queuedIds(limit?: number): Promise<string[]> {
    const ids: string[] = [];
    for await (const entry of this.kv.list<string>({ prefix: [V, "queue"] }, { limit })) {
      ids.push(entry.value);
    }
    return ids;
  }

  /** Records a message that must be delivered at least once; overwrites the same (task, kind). */
  async putOutbox(taskId: string, kind: string, payload: unknown): Promise<void> {
    await this.kv.set(outboxKey(taskId, kind), payload);
  }

  async *outbox(): AsyncIterableIterator<{ taskId: string; kind: string; payload: unknown }> {
    for await (const entry of this.kv.list({ prefix: [V, "outbox"] })) {
      yield { taskId: String(entry.key[2]), kind: String(entry.key[3]), payload: entry.value };
    }
  }

  async deleteOutbox(taskId: string, kind: string): Promise<void> {
    await this.kv.delete(outboxKey(taskId, kind));
  }

  close(): void {
    this.kv.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/** Splits `items` into atomic-op-sized runs: at most 100 records and about 400 KiB of them. */
function chunked<T>(items: readonly T[], recordOf: (item: T) => Task | undefined): T[][] {
  const chunks: T[][] = [];
  let chunk: T[] = [];
  let chars = 0;
  for (const item of items) {
    const record = recordOf(item);
    const size = record ? JSON.stringify(record).length : 2_048;
    if (chunk.length === MAX_BATCH || (chunk.length > 0 && chars + size > MAX_BATCH_CHARS)) {
      chunks.push(chunk);
      chunk = [];
      chars = 0;
    }
    chunk.push(item);
    chars += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

function parseTask(id: string, value: unknown): Task {
  const parsed = Task.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new StoreCorruptError(`Cannot read task "${id}" from the store: ${z.prettifyError(parsed.error)}`);
}
