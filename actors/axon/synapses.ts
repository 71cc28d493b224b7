/**
 * The synapses our axon serves, as zod schemas of their JSON bodies: the bittensor `Synapse` envelope
 * (name, timeout, sizes, dendrite/axon TerminalInfo, computed_body_hash) plus each synapse's own fields.
 * protocol/satori_protocol/ declares the same classes for validators: field names, JSON types and
 * `hashFields` (the Python `required_hash_fields`) must match. Every field has a default there, so no
 * `bt_header_input_obj_*` headers are needed. Pure, no I/O.
 */
import { z } from "zod";

const int = z.number().int();
const nullable = <T extends z.ZodType>(t: T) => t.nullable().optional();

/** bittensor `TerminalInfo`: every field optional (None). `nonce` is a ns timestamp beyond 2^53. */
export const TerminalInfo = z.object({
  status_code: nullable(int),
  status_message: nullable(z.string()),
  process_time: nullable(z.number()),
  ip: nullable(z.string()),
  port: nullable(int),
  version: nullable(int),
  nonce: nullable(z.number()),
  uuid: nullable(z.string()),
  hotkey: nullable(z.string()),
  signature: nullable(z.string()),
});
export type TerminalInfo = z.infer<typeof TerminalInfo>;

/** Order of TerminalInfo's fields in the Python model (`model_dump()` and `to_headers()` order). */
export const TERMINAL_FIELDS = [
  "status_code",
  "status_message",
  "process_time",
  "ip",
  "port",
  "version",
  "nonce",
  "uuid",
  "hotkey",
  "signature",
] as const;

/** The base `bittensor.Synapse` fields. Extra keys are ignored, as pydantic does. */
export const SynapseEnvelope = z.object({
  name: nullable(z.string()),
  timeout: nullable(z.number()),
  total_size: nullable(int),
  header_size: nullable(int),
  dendrite: nullable(TerminalInfo),
  axon: nullable(TerminalInfo),
  computed_body_hash: nullable(z.string()),
});

/** `TrainingTask`: `task` in (a TaskRequest, checked by the handler); the decision out. */
export const TrainingTaskFields = z.object({
  task: nullable(z.record(z.string(), z.unknown())),
  accepted: nullable(z.boolean()),
  task_id: nullable(z.string()),
  queue_position: nullable(int),
  reason: nullable(z.string()),
  message: nullable(z.string()),
});
export type TrainingTaskReply = {
  accepted: boolean;
  task_id: string | null;
  queue_position: number | null;
  reason: string | null;
  message: string | null;
};

/** `TaskStatus`: `task_id` in; where the task stands out. */
export const TaskStatusFields = z.object({
  task_id: z.string().optional(),
  state: nullable(z.string()),
  progress: nullable(z.number()),
  result_repo: nullable(z.string()),
  reason: nullable(z.string()),
});
export type TaskStatusReply = {
  state: string;
  progress: number | null;
  result_repo: string | null;
  reason: string | null;
};

/** `Capacity`: nothing in; what the miner can take now out. */
export const CapacityFields = z.object({
  total_gpus: nullable(int),
  free_gpus: nullable(int),
  gpu_vram_mb: nullable(z.array(int)),
  queue_length: nullable(int),
  queue_max: nullable(int),
});
export type CapacityReply = {
  total_gpus: number;
  free_gpus: number;
  gpu_vram_mb: number[];
  queue_length: number;
  queue_max: number;
};

export interface SynapseSpec {
  /** The subnet's own fields (the envelope is checked separately). */
  readonly fields: z.ZodObject;
  /** Python `required_hash_fields`, in order: bound to the signature through the body hash. */
  readonly hashFields: readonly string[];
  /** Fields declared `float` in Python: their JSON ints become floats before hashing (none hashed yet). */
  readonly floatFields: readonly string[];
  /** Whether the stake/permit blacklist applies (the SDK's ping has none; verify still does). */
  readonly validatorsOnly: boolean;
  /** Python defaults of fields that are not None by default (hashed when the body omits them). */
  readonly defaults: Readonly<Record<string, string>>;
}

export const SYNAPSES = {
  Synapse: { fields: z.object({}), hashFields: [], floatFields: [], validatorsOnly: false, defaults: {} },
  TrainingTask: {
    fields: TrainingTaskFields,
    hashFields: ["task"],
    floatFields: [],
    validatorsOnly: true,
    defaults: {},
  },
  TaskStatus: {
    fields: TaskStatusFields,
    hashFields: ["task_id"],
    floatFields: ["progress"],
    validatorsOnly: true,
    defaults: { task_id: "" },
  },
  Capacity: { fields: CapacityFields, hashFields: [], floatFields: [], validatorsOnly: true, defaults: {} },
} as const satisfies Record<string, SynapseSpec>;

export type SynapseName = keyof typeof SYNAPSES;

export function isSynapseName(name: string): name is SynapseName {
  return Object.hasOwn(SYNAPSES, name);
}

/** `Field "a.b[2]": expected …`, the first zod issue as one line naming the field. */
export function describeZodError(error: z.ZodError, prefix: readonly PropertyKey[] = []): string {
  const issue = error.issues[0];
  const path = [...prefix, ...issue.path]
    .map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join("");
  return `Field "${path || "(body)"}": ${issue.message}`;
}
