/**
 * Tasks by state without scanning the store per scrape: one scan when the miner starts, then every
 * write the actors make is seen as it lands (`observeStore`), so a count costs O(1) per write and a
 * scrape reads a map. Also keeps what the dashboard lists: the live tasks' brief facts (bounded by the
 * queue's limit plus the runs) and the latest ended tasks (a ring). The store stays the one owner of a
 * task's state; this is a view of its writes, rebuilt from the store on every start.
 */
import type { Store } from "../../core/store.ts";
import { type Task, type TaskState, TaskState as TaskStates, TERMINAL_STATES } from "../../core/task.ts";
import type { EndedTask } from "../../core/status_view.ts";

/** What the dashboard shows of a task not yet ended. */
export type TaskBrief = {
  id: string;
  state: TaskState;
  type: "text" | "image";
  baseModel: string;
  validator: string;
  priority: number;
  receivedMs: number;
};

/** Ended tasks kept for the dashboard, newest first. */
export const RECENT_MAX = 20;

export class TaskTally {
  /** Every task id the store holds → its state: what a write's previous state is read from. */
  readonly #states = new Map<string, TaskState>();
  readonly #counts = new Map<TaskState, number>();
  readonly #live = new Map<string, TaskBrief>();
  #recent: EndedTask[] = [];
  readonly #outbox = new Set<string>();

  /** A task record as just written (created or updated). */
  record(task: Task): void {
    const id = task.request.id;
    const before = this.#states.get(id);
    if (before !== task.state) {
      if (before !== undefined) this.#counts.set(before, (this.#counts.get(before) ?? 1) - 1);
      this.#counts.set(task.state, (this.#counts.get(task.state) ?? 0) + 1);
      this.#states.set(id, task.state);
    }
    if (TERMINAL_STATES.has(task.state)) {
      this.#live.delete(id);
      if (before !== task.state) this.#pushEnded(task);
    } else {
      this.#live.set(id, briefOf(task));
    }
  }

  /**
   * The one scan, at start: records every task not written since this tally began (a write seen
   * during the scan is newer than what the scan read). Ended tasks fill the recent list by end time.
   */
  async load(tasks: AsyncIterable<Task>): Promise<void> {
    const ended: Task[] = [];
    for await (const task of tasks) {
      if (this.#states.has(task.request.id)) continue;
      if (TERMINAL_STATES.has(task.state)) {
        ended.push(task);
        if (ended.length > RECENT_MAX * 4) trimNewest(ended);
        const n = this.#counts.get(task.state) ?? 0;
        this.#counts.set(task.state, n + 1);
        this.#states.set(task.request.id, task.state);
      } else {
        this.record(task);
      }
    }
    trimNewest(ended);
    const seen = new Set(this.#recent.map((r) => r.id));
    const loaded = ended.filter((t) => !seen.has(t.request.id)).map(endedOf);
    this.#recent = [...this.#recent, ...loaded].sort((a, b) => b.ended_ms - a.ended_ms).slice(0, RECENT_MAX);
  }

  /** Every state with its count, zeros included. */
  counts(): Record<TaskState, number> {
    return Object.fromEntries(TaskStates.options.map((s) => [s, this.#counts.get(s) ?? 0])) as Record<
      TaskState,
      number
    >;
  }

  brief(id: string): TaskBrief | undefined {
    return this.#live.get(id);
  }

  recent(): readonly EndedTask[] {
    return this.#recent;
  }

  /** Results waiting in the durable outbox for the task center's acknowledgement. */
  get outboxLength(): number {
    return this.#outbox.size;
  }

  outboxPut(taskId: string, kind: string): void {
    this.#outbox.add(`${kind}\u0000${taskId}`);
  }

  outboxDelete(taskId: string, kind: string): void {
    this.#outbox.delete(`${kind}\u0000${taskId}`);
  }

  #pushEnded(task: Task): void {
    this.#recent = [endedOf(task), ...this.#recent.filter((r) => r.id !== task.request.id)].slice(
      0,
      RECENT_MAX,
    );
  }
}

function briefOf(task: Task): TaskBrief {
  return {
    id: task.request.id,
    state: task.state,
    type: task.request.type,
    baseModel: task.request.training.base_model,
    validator: task.validator_hotkey,
    priority: task.request.priority,
    receivedMs: task.received_ms,
  };
}

function endedOf(task: Task): EndedTask {
  return {
    id: task.request.id,
    state: task.state as EndedTask["state"],
    reason: task.reason,
    ended_ms: task.updated_ms,
    type: task.request.type,
    base_model: task.request.training.base_model,
    loss: task.progress?.loss ?? null,
    repo: task.result?.repo_id ?? null,
  };
}

/** Keeps the RECENT_MAX newest (by end time) in place. */
function trimNewest(tasks: Task[]): void {
  tasks.sort((a, b) => b.updated_ms - a.updated_ms);
  tasks.length = Math.min(tasks.length, RECENT_MAX);
}

type Writes = {
  [K in "createTask" | "createTasks" | "updateTask" | "updateTasks" | "putOutbox" | "deleteOutbox"]: (
    result: Awaited<ReturnType<Store[K]>>,
    args: Parameters<Store[K]>,
  ) => void;
};

/**
 * The store, with every task and outbox write reported to `tally` once it has committed. Reads and
 * everything else go straight to the store. Each public write is seen exactly once: the store's own
 * methods call each other on the real object, never through this proxy.
 */
export function observeStore(store: Store, tally: TaskTally): Store {
  const writes: Writes = {
    createTask: (r) => r.ok && tally.record(r.task),
    createTasks: (rs) => rs.forEach((r) => r.ok && tally.record(r.task)),
    updateTask: (t) => tally.record(t),
    updateTasks: (rs) => rs.forEach((s) => tally.record(s.task)),
    putOutbox: (_, [taskId, kind]) => tally.outboxPut(taskId, kind),
    deleteOutbox: (_, [taskId, kind]) => tally.outboxDelete(taskId, kind),
  };
  return new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      const after = Object.hasOwn(writes, prop) ? writes[prop as keyof Writes] : undefined;
      if (!after) return value.bind(target);
      return async (...args: unknown[]) => {
        const result = await value.apply(target, args);
        (after as (r: unknown, a: unknown[]) => void)(result, args);
        return result;
      };
    },
  });
}

/** Loads the tally from the store (the one scan) and the outbox, then returns the observed store. */
export async function tallyStore(store: Store, tally: TaskTally): Promise<Store> {
  const observed = observeStore(store, tally);
  await tally.load(store.tasks());
  for await (const { taskId, kind } of store.outbox()) tally.outboxPut(taskId, kind);
  return observed;
}
