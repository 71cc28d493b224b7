/**
 * The task center's wire types, one zod schema per body in docs/task-center.openapi.yml. The client
 * parses every response with them and the local task center (tests/) parses every request, so a
 * change to the protocol is a change here and in the document, nowhere else.
 */
import { z } from "zod";
import { DatasetManifest } from "../../core/manifest.ts";

export { DatasetManifest };

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

export const ErrorBody = z.object({
  /** Machine-readable, stable: the miner fails a task with it. */
  reason: z.string().min(1),
  message: z.string(),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

export const SubmitDatasetBody = z.strictObject({ manifest: DatasetManifest });
export type SubmitDatasetBody = z.infer<typeof SubmitDatasetBody>;

export const ValidationStatus = z.object({
  task_id: z.string(),
  status: z.enum(["pending", "validated", "rejected"]),
  /** The validator's reason when rejected; null otherwise. */
  reason: z.string().nullable(),
  /** sha256 of the manifest's canonical JSON: what was validated. */
  manifest_sha256: sha256Hex,
  /** A hint for the next poll while pending. */
  retry_after_s: z.number().nonnegative().nullable().default(null),
});
export type ValidationStatus = z.infer<typeof ValidationStatus>;

export const ResultSubmission = z.strictObject({
  task_id: z.string(),
  /** Same key on every retry of the same result: the task center records it once. */
  dedupe_key: sha256Hex,
  repo_id: z.string().min(1),
  commit_sha: z.string().min(1),
  artifacts: z.array(z.strictObject({ path: z.string(), sha256: sha256Hex, bytes: z.number().int() })).min(1),
  dataset_manifest_sha256: sha256Hex.nullable(),
  metrics: z.record(z.string(), z.unknown()),
  quality: z.strictObject({ passed: z.literal(true) }).catchall(z.unknown()),
  /** Unix ms at which the task reached each state, and the derived durations. */
  timings: z.strictObject({
    received_ms: z.number().int(),
    dataset_validated_ms: z.number().int().nullable(),
    training_started_ms: z.number().int().nullable(),
    training_done_ms: z.number().int().nullable(),
    uploaded_ms: z.number().int().nullable(),
    training_s: z.number().nullable(),
    total_s: z.number().nullable(),
  }),
});
export type ResultSubmission = z.infer<typeof ResultSubmission>;

export const ResultAck = z.object({
  task_id: z.string(),
  dedupe_key: sha256Hex,
  /** True when this key was already recorded: the retry changed nothing. */
  duplicate: z.boolean(),
  recorded_at_ms: z.number().int(),
});
export type ResultAck = z.infer<typeof ResultAck>;

export const TaskStatus = z.object({
  task_id: z.string(),
  hotkey: z.string(),
  dataset: ValidationStatus.nullable(),
  result: ResultAck.nullable(),
});
export type TaskStatus = z.infer<typeof TaskStatus>;

/** The endpoints' paths, shared so client and server agree. */
export const paths = {
  dataset: (taskId: string) => `/v1/tasks/${encodeURIComponent(taskId)}/dataset`,
  validation: (taskId: string) => `/v1/tasks/${encodeURIComponent(taskId)}/dataset/validation`,
  result: (taskId: string) => `/v1/tasks/${encodeURIComponent(taskId)}/result`,
  task: (taskId: string) => `/v1/tasks/${encodeURIComponent(taskId)}`,
};
