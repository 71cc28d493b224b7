/**
 * The in-memory mirror of the KV queue index: entries sorted exactly like the index keys (the
 * validator's stake descending, then the task's own priority descending, then arrival, then id), so
 * what the queue dispatches next is what a restart would reload first. Stake ranks validators; a
 * task's `priority` is the validator's say and orders only among tasks of equal stake, i.e. its own,
 * so no priority a validator sends can jump a validator with more stake. Pure; the actor owns the array.
 */
import type { Task } from "../../core/task.ts";
import { type Need, needOf } from "./placement.ts";

export type Entry = {
  id: string;
  /** The sender's hotkey and its stake when the task arrived (fairness.ts counts by them). */
  validator: string;
  stake: number;
  priority: number;
  receivedMs: number;
  deadlineMs: number | null;
  need: Need;
};

export function entryOf(task: Task): Entry {
  return {
    id: task.request.id,
    validator: task.validator_hotkey,
    stake: task.validator_stake_tao,
    priority: task.request.priority,
    receivedMs: task.received_ms,
    deadlineMs: task.request.deadline_ms,
    need: needOf(task),
  };
}

/** Negative when `a` goes first. */
export function compareEntries(a: Entry, b: Entry): number {
  if (a.stake !== b.stake) return b.stake > a.stake ? 1 : -1;
  if (a.priority !== b.priority) return b.priority > a.priority ? 1 : -1;
  if (a.receivedMs !== b.receivedMs) return a.receivedMs - b.receivedMs;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Inserts `entry` in order (binary search); O(log n) compares plus one splice. */
export function insertEntry(list: Entry[], entry: Entry): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareEntries(list[mid], entry) <= 0) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, entry);
}

/** Removes the entry with `id`; returns it, or undefined when absent. */
export function removeEntry(list: Entry[], id: string): Entry | undefined {
  const i = list.findIndex((e) => e.id === id);
  return i < 0 ? undefined : list.splice(i, 1)[0];
}

/** Ids of entries whose deadline is at or before `nowMs`. */
export function expiredIds(list: readonly Entry[], nowMs: number): string[] {
  return list.filter((e) => e.deadlineMs !== null && e.deadlineMs <= nowMs).map((e) => e.id);
}
