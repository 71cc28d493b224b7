/**
 * The base-model cache's contract: the events `python -m trainer prefetch` prints (the one mirror is
 * PREFETCH_FIELDS in trainer/cache.py), the Hugging Face cache layout the miner reads sizes from, and the
 * snapshot the CacheActor publishes (for `status`, the log and the queue's time estimate).
 */
import { z } from "zod";

const base = { time: z.number(), model: z.string().min(1) };
export const PrefetchErrorCode = z.enum([
  "gated",
  "not_found",
  "unauthorized",
  "network",
  "offline",
  "checksum",
  "disk_full",
  "internal",
]);
export type PrefetchErrorCode = z.output<typeof PrefetchErrorCode>;

export const PrefetchEvent = z.discriminatedUnion("event", [
  z.strictObject({
    event: z.literal("prefetch_start"),
    ...base,
    revision: z.string(),
    commit: z.string(),
    files: z.int().nonnegative(),
    total_bytes: z.int().nonnegative(),
    cached_bytes: z.int().nonnegative(),
  }),
  z.strictObject({
    event: z.literal("prefetch_progress"),
    ...base,
    done_bytes: z.int().nonnegative(),
    total_bytes: z.int().nonnegative(),
  }),
  z.strictObject({
    event: z.literal("prefetch_done"),
    ...base,
    commit: z.string(),
    total_bytes: z.int().nonnegative(),
    path: z.string(),
    /** False when the Hub was out of reach and a complete snapshot on disk was taken as it is. */
    checked: z.boolean(),
  }),
  z.strictObject({
    event: z.literal("prefetch_error"),
    ...base,
    code: PrefetchErrorCode,
    message: z.string(),
  }),
]);
export type PrefetchEvent = z.output<typeof PrefetchEvent>;

/** A Hub repo id ("org/name"), as opposed to a local folder the operator allowed. */
export function isHubModel(model: string): boolean {
  return /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/.test(model) && !model.includes("..");
}

/** `<cache_dir>/models--org--name`: where huggingface_hub keeps a model repo. */
export function repoFolder(cacheDir: string, model: string): string {
  return `${cacheDir}/models--${model.replaceAll("/", "--")}`;
}

/** The model id of a cache folder name, or null for anything else (`.locks`, datasets). */
export function modelOfFolder(name: string): string | null {
  const m = name.match(/^models--([^/]+?)--(.+)$/);
  return m ? `${m[1]}/${m[2]}` : null;
}

export type ModelCacheState = "waiting" | "downloading" | "cached" | "failed" | "evicted";

/** One base model as the CacheActor knows it. */
export type CachedModel = {
  model: string;
  state: ModelCacheState;
  /** Bytes on disk (cached) or fetched so far, and the whole model's, once the Hub said (else null). */
  doneBytes: number;
  totalBytes: number | null;
  /** Download rate seen over the current download, or null before there is one. */
  bytesPerS: number | null;
  lastUsedMs: number | null;
  /** Why it failed (`failed`), or null. */
  message: string | null;
};

/** What `status` shows: the cache dir, its budget, and each model. */
export type ModelCacheSnapshot = {
  cacheDir: string;
  budgetBytes: number;
  usedBytes: number;
  models: CachedModel[];
};
