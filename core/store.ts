/**
 * Durable state in Deno KV (SQLite on disk): task records, the priority index of queued tasks,
 * and the outbox of results still to deliver. Keys carry a schema version so a future layout can
 * migrate instead of misreading. Every write is one `kv.atomic()` with versionstamp checks, so a
 * task record and its queue index never disagree, even across a crash mid-write.
 */
import { z } from "zod";
import { Task } from "./task.ts";

const V = "v1";
const taskKey = (id: string): Deno.KvKey => [V, "task", id];
const queueKey = (
  t: Task,
): Deno.KvKey => [
  V,
  "queue",
  t.request.priority === 0 ? 0 : -t.request.priority,
  t.received_ms,
  t.request.id,
];
const outboxKey = (taskId: string, kind: string): Deno.KvKey => [V, "outbox", taskId, kind];

/** Optimistic writes retry this often before a conflict is treated as a bug. */
const MAX_CONFLICT_RETRIES = 16;

export type CreateResult = { ok: true; task: Task } | { ok: false; reason: "duplicate"; task: Task };

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
    return new Store(await Deno.openKv(path ?? ":memory:"), path);
  }

  async getTask(id: string): Promise<Task | null> {
    const entry = await this.kv.get(taskKey(id));
    return entry.value === null ? null : parseTask(id, entry.value);
  }

  /** Stores a new task; a second create with the same id returns the first (validators retry). */
  async createTask(task: Task): Promise<CreateResult> {
    const key = taskKey(task.request.id);
    const op = this.kv.atomic().check({ key, versionstamp: null }).set(key, task);
    if (task.state === "queued") op.set(queueKey(task), task.request.id);
    const res = await op.commit();
    if (res.ok) return { ok: true, task };
    const existing = await this.getTask(task.request.id);
    if (existing === null) {
      throw new StoreCorruptError(`Cannot create task "${task.request.id}": conflicting write vanished`);
    }
    return { ok: false, reason: "duplicate", task: existing };
  }

  /**
   * Read-modify-write of one task: `change` is pure and may run more than once on conflict.
   * Keeps the queue index in step with the state in the same atomic commit.
   */
  async updateTask(id: string, change: (task: Task) => Task): Promise<Task> {
    for (let i = 0; i < MAX_CONFLICT_RETRIES; i++) {
      const entry = await this.kv.get(taskKey(id));
      if (entry.value === null) throw new Deno.errors.NotFound(`Cannot update task "${id}": no such task`);
      const before = parseTask(id, entry.value);
      const after = change(before);
      const op = this.kv.atomic().check(entry).set(taskKey(id), after);
      if (before.state === "queued") op.delete(queueKey(before));
      if (after.state === "queued") op.set(queueKey(after), id);
      if ((await op.commit()).ok) return after;
    }
    throw new StoreCorruptError(
      `Cannot update task "${id}": ${MAX_CONFLICT_RETRIES} write conflicts in a row`,
    );
  }

  /** Every task record, in id order. */
  async *tasks(): AsyncIterableIterator<Task> {
    for await (const entry of this.kv.list({ prefix: [V, "task"] })) {
      yield parseTask(String(entry.key[2]), entry.value);
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

function parseTask(id: string, value: unknown): Task {
  const parsed = Task.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new StoreCorruptError(`Cannot read task "${id}" from the store: ${z.prettifyError(parsed.error)}`);
}
