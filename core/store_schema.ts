/**
 * The store's schema version and its migrations. The version lives under one key; a store without it
 * holds data written before versions were recorded (version 1), or nothing (a new store, written at the
 * current version). Opening runs each migration from the stored version up, in order, recording each
 * step as it completes, so a crash mid-migration resumes at the step it was in (every migration is
 * idempotent). A store written by a newer miner is refused: reading it could lose what it knows.
 *
 * | version | layout                                                                                  |
 * | ------- | --------------------------------------------------------------------------------------- |
 * | 1       | queue index `["v1","queue",-priority,received_ms,id]`                                    |
 * | 2       | queue index ranks validators by stake: `["v1","queue",-stake,-priority,received_ms,id]` |
 */
import type { Task } from "./task.ts";

export const SCHEMA_KEY: Deno.KvKey = ["schema_version"];
export const SCHEMA_VERSION = 2;

/** The key layout of the current version, which migrations write into. */
export type Layout = {
  taskKey: (id: string) => Deno.KvKey;
  queueKey: (t: Task) => Deno.KvKey;
  parseTask: (id: string, value: unknown) => Task;
};

export type Migration = { from: number; what: string; run: (kv: Deno.Kv, layout: Layout) => Promise<void> };

/** Index keys before stake ranked validators: ["v1", "queue", -priority, received_ms, id]. */
const V1_QUEUE_KEY_LENGTH = 5;

export const MIGRATIONS: readonly Migration[] = [
  {
    from: 1,
    what: "the queue index ranks validators by stake",
    // Each old index key is rewritten with its record's check: a concurrent write retries on next open.
    run: async (kv, { taskKey, queueKey, parseTask }) => {
      for await (const entry of kv.list<string>({ prefix: ["v1", "queue"] })) {
        if (entry.key.length !== V1_QUEUE_KEY_LENGTH) continue;
        const record = await kv.get(taskKey(entry.value));
        const op = kv.atomic().check(record).delete(entry.key);
        const task = record.value === null ? null : parseTask(entry.value, record.value);
        if (task?.state === "queued") op.set(queueKey(task), entry.value);
        const res = await op.commit();
        if (!res.ok) throw new StoreVersionError(`Cannot migrate the queue index: a task changed meanwhile`);
      }
    },
  },
];

export class StoreVersionError extends Error {
  override name = "StoreVersionError";
}

/** The version the data says it has: the recorded one, 1 for unversioned data, null for an empty store. */
export async function storedVersion(kv: Deno.Kv): Promise<number | null> {
  const entry = await kv.get<number>(SCHEMA_KEY);
  if (entry.value !== null) return entry.value;
  for await (const _ of kv.list({ prefix: [] }, { limit: 1 })) return 1;
  return null;
}

/** Brings the store at `path` to SCHEMA_VERSION, or refuses one a newer miner wrote. */
export async function migrateStore(
  kv: Deno.Kv,
  path: string,
  layout: Layout,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<{ from: number | null; to: number }> {
  const from = await storedVersion(kv);
  if (from !== null && (!Number.isInteger(from) || from > SCHEMA_VERSION)) {
    throw new StoreVersionError(
      `Cannot open the store "${path}": it has schema version ${from}, written by a newer miner ` +
        `(this one reads up to ${SCHEMA_VERSION}); upgrade the miner, or set miner.data_dir to another folder`,
    );
  }
  for (let v = from ?? SCHEMA_VERSION; v < SCHEMA_VERSION; v++) {
    const step = migrations.find((m) => m.from === v);
    if (!step) throw new StoreVersionError(`Cannot open the store "${path}": no migration from version ${v}`);
    await step.run(kv, layout);
    await kv.set(SCHEMA_KEY, v + 1);
  }
  if (from === null) await kv.set(SCHEMA_KEY, SCHEMA_VERSION);
  return { from, to: SCHEMA_VERSION };
}
