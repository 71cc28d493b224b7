/**
 * Which cached base models to delete to fit the disk budget (`training.cache_max_gb`): the least
 * recently used first, never one a task still needs (queued, waiting for its dataset, or training) nor
 * one being downloaded. A model never used counts as used when it was cached. Pure.
 */
export type OnDisk = { model: string; bytes: number; lastUsedMs: number | null };

export type EvictionPlan = {
  evict: string[];
  /** Bytes still above the budget after evicting everything allowed (what needed models hold). */
  overBytes: number;
};

export function evictionPlan(
  onDisk: readonly OnDisk[],
  budgetBytes: number,
  keep: ReadonlySet<string>,
): EvictionPlan {
  let used = onDisk.reduce((n, m) => n + m.bytes, 0);
  const evict: string[] = [];
  const candidates = onDisk.filter((m) => !keep.has(m.model))
    .sort((a, b) => (a.lastUsedMs ?? 0) - (b.lastUsedMs ?? 0) || a.model.localeCompare(b.model));
  for (const m of candidates) {
    if (used <= budgetBytes) break;
    evict.push(m.model);
    used -= m.bytes;
  }
  return { evict, overBytes: Math.max(0, used - budgetBytes) };
}
