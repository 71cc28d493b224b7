/**
 * The contract between the miner and the Python trainer: the training spec it reads
 * (`task.json`) and the JSON-lines events it writes on stdout. These zod schemas are the
 * single source; `deno task schema` writes them as JSON Schema to trainer/schema/, where
 * the Python side checks itself against them (tests on both sides keep them from drifting).
 */
import { z } from "zod";

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();
const fraction = z.number().min(0).lt(1);

export const Precision = z.enum(["auto", "fp32", "bf16", "fp16"]);
export const LrScheduler = z.enum(["constant", "linear", "cosine"]);

/**
 * How fast a run goes, never what it learns (the checkpoint fingerprint leaves it out). trainer/speed.py and
 * trainer/modes.py resolve each field for the card the run lands on; the chosen memory mode and why are in
 * the `started` event. The defaults are the fast choices that cannot change the result beyond rounding.
 */
export const Speed = z.strictObject({
  /**
   * "auto": the fastest memory mode (quantized base, checkpointing) estimated to fit the card's free memory,
   * from trainer/modes.json; `quantization` and `gradient_checkpointing` are floors. "as_given": exactly those.
   * Default auto: a 24 GB card then trains FLUX in fp8 with checkpointing instead of running out of memory.
   */
  mode: z.enum(["auto", "as_given"]).default("auto"),
  /**
   * torch.compile of the repeated blocks. "auto": on CUDA once the run has `compile_min_steps` (trainer/modes.json)
   * steps or more, since its warm-up only pays back over a long run; never on the CPU.
   */
  compile: z.enum(["auto", "on", "off"]).default("auto"),
  /** Attention kernels. "auto": flash-attn when it is installed on a CUDA host, else PyTorch SDPA. */
  attention: z.enum(["auto", "sdpa", "flash"]).default("auto"),
  /**
   * Text: a micro-batch's samples run concatenated in one row, each with its own position ids, so attention
   * never crosses a sample and no compute goes to padding; the loss equals the padded run's. Default true.
   */
  padding_free: z.boolean().default(true),
  /**
   * Image: run the micro-batches of one accumulation step as one forward pass (several images per GPU) when
   * the mode table says memory allows; the step's gradient is the same average. Default true.
   */
  merge_micro_batches: z.boolean().default(true),
  /** Fused AdamW kernel on CUDA (one launch for all LoRA tensors). Default true; ignored on the CPU. */
  fused_optimizer: z.boolean().default(true),
  /** TF32 tensor cores for the fp32 matmuls (LoRA weights, losses) on CUDA. Default true. */
  tf32: z.boolean().default(true),
});

/** Hyperparameters shared by text and image LoRA. Either `max_steps` or `epochs` bounds training. */
const commonHyperparameters = {
  rank: positiveInt.default(16),
  alpha: z.number().positive().default(32),
  dropout: fraction.default(0.05),
  /** Module names to adapt; null picks the usual attention projections for the model family. */
  target_modules: z.array(z.string().min(1)).min(1).nullable().default(null),
  learning_rate: z.number().positive().default(1e-4),
  lr_scheduler: LrScheduler.default("constant"),
  warmup_steps: nonNegativeInt.default(0),
  max_steps: positiveInt.nullable().default(null),
  epochs: z.number().positive().nullable().default(null),
  batch_size: positiveInt.default(1),
  gradient_accumulation: positiveInt.default(1),
  seed: nonNegativeInt.default(42),
  precision: Precision.default("auto"),
  gradient_checkpointing: z.boolean().default(false),
  /** Save a resumable checkpoint every N optimizer steps (0: only on SIGTERM and at the end). */
  checkpoint_every: nonNegativeInt.default(100),
  /**
   * AdamW's decoupled weight decay. Default 0: decay pulls the LoRA weights toward zero, i.e. back toward
   * the base model, which a short fine-tune does not want (also transformers' Trainer default).
   */
  weight_decay: z.number().nonnegative().default(0),
  /** AdamW's first-moment decay. Default 0.9: torch's default, kept by the common LoRA recipes. */
  adam_beta1: fraction.default(0.9),
  /** AdamW's second-moment decay. Default 0.999: torch's value, stable at the small batches LoRA runs use. */
  adam_beta2: fraction.default(0.999),
  /**
   * Clip the global gradient norm to this before each optimizer step (0: no clipping). Default 1: the
   * value transformers' Trainer and diffusers' LoRA scripts use; it tames the spikes a high LoRA LR causes.
   */
  max_grad_norm: z.number().nonnegative().default(1),
  speed: Speed.default(Speed.parse({})),
};

export const TextHyperparameters = z.strictObject({
  ...commonHyperparameters,
  max_seq_length: positiveInt.default(1024),
  /** Concatenate samples into full-length blocks instead of padding each one. */
  packing: z.boolean().default(false),
});

export const ImageHyperparameters = z.strictObject({
  ...commonHyperparameters,
  resolution: positiveInt.default(1024),
  /** FLUX guidance value fed to guidance-distilled transformers (FLUX.1-dev). */
  guidance_scale: z.number().nonnegative().default(1),
  /** "none": bf16 base weights; "fp8"/"nf4": quantized frozen base for 24 GB cards. */
  quantization: z.enum(["none", "fp8", "nf4"]).default("none"),
});

/** Where columns live in a text dataset; unset fields are detected from common names. */
export const TextColumns = z.strictObject({
  text: z.string().nullable().default(null),
  prompt: z.string().nullable().default(null),
  response: z.string().nullable().default(null),
  instruction: z.string().nullable().default(null),
  input: z.string().nullable().default(null),
  output: z.string().nullable().default(null),
  messages: z.string().nullable().default(null),
});

export const TextDataset = z.strictObject({
  format: z.enum(["auto", "jsonl", "csv", "parquet"]).default("auto"),
  columns: TextColumns.default(TextColumns.parse({})),
  eval_fraction: fraction.default(0.1),
});

export const ImageDataset = z.strictObject({
  /** "folder": images with `.txt` caption sidecars; "metadata": a metadata.jsonl with file_name + caption. */
  format: z.enum(["auto", "folder", "metadata"]).default("auto"),
  caption_column: z.string().default("caption"),
  eval_fraction: fraction.default(0.1),
});

export const TextQuality = z.strictObject({
  /** Pass only if adapter eval loss <= base eval loss * (1 - min_improvement). */
  min_improvement: z.number().min(0).lt(1).default(0.01),
});

export const ImageQuality = z.strictObject({
  prompts: z.array(z.string().min(1)).min(1).default(["a photo"]),
  seed: nonNegativeInt.default(0),
  num_inference_steps: positiveInt.default(20),
  /** Pass only if the mean absolute pixel difference from the base output is at least this (0..1). */
  min_difference: z.number().min(0).max(1).default(0.001),
});

const specCommon = {
  schema_version: z.literal(1).default(1),
  task_id: z.string().min(1).max(128).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/),
  base_model: z.string().min(1),
  trust_remote_code: z.boolean().default(false),
};

export const TextTrainingSpec = z.strictObject({
  ...specCommon,
  type: z.literal("text"),
  hyperparameters: TextHyperparameters.default(TextHyperparameters.parse({})),
  dataset: TextDataset.default(TextDataset.parse({})),
  quality: TextQuality.default(TextQuality.parse({})),
});

export const ImageTrainingSpec = z.strictObject({
  ...specCommon,
  type: z.literal("image"),
  hyperparameters: ImageHyperparameters.default(ImageHyperparameters.parse({})),
  dataset: ImageDataset.default(ImageDataset.parse({})),
  quality: ImageQuality.default(ImageQuality.parse({})),
});

/** What the trainer reads from `--task task.json`. */
export const TrainingSpec = z.discriminatedUnion("type", [TextTrainingSpec, ImageTrainingSpec]);
export type TrainingSpec = z.infer<typeof TrainingSpec>;
export type TrainingSpecInput = z.input<typeof TrainingSpec>;

/** Stable error codes; the miner decides retry vs fail on these, so never rename one. */
export const TrainerErrorCode = z.enum([
  "dataset_invalid",
  "model_not_found",
  "oom",
  "cancelled",
  "config_invalid",
  "checkpoint_invalid",
  "quality_failed",
  "internal",
]);
export type TrainerErrorCode = z.infer<typeof TrainerErrorCode>;

const finite = z.number();
const event = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
  z.strictObject({ type: z.literal(type), time: z.number(), ...shape });

export const Artifact = z.strictObject({
  path: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: nonNegativeInt,
});

export const QualityResult = z.strictObject({
  passed: z.boolean(),
  metric: z.string(),
  base: finite.nullable(),
  adapter: finite.nullable(),
  threshold: finite,
  detail: z.string(),
  samples: z.array(z.string()).default([]),
});

/** The last event of a successful run: artifacts, metrics and the quality verdict. */
export const DoneEvent = event("done", {
  artifacts: z.array(Artifact).min(1),
  metrics: z.record(z.string(), z.union([finite, z.string(), z.boolean(), z.null()])),
  quality: QualityResult,
});
export type DoneEvent = z.infer<typeof DoneEvent>;

export const TrainerEvent = z.discriminatedUnion("type", [
  event("started", {
    task_id: z.string(),
    kind: z.enum(["text", "image"]),
    device: z.string(),
    precision: z.string(),
    total_steps: positiveInt,
    start_step: nonNegativeInt,
    train_samples: nonNegativeInt,
    eval_samples: nonNegativeInt,
    trainable_params: nonNegativeInt,
    /** The memory mode the trainer chose (e.g. "fp8+checkpointing") and why; absent from older trainers. */
    mode: z.string().optional(),
    mode_reason: z.string().optional(),
  }),
  event("progress", {
    step: positiveInt,
    total: positiveInt,
    loss: finite,
    lr: finite,
    samples_per_s: finite,
    tokens_per_s: finite.nullable(),
    eta_s: finite,
    gpu_mem_mb: finite.nullable(),
  }),
  event("checkpoint", { step: nonNegativeInt, path: z.string() }),
  event("eval", { step: nonNegativeInt, eval_loss: finite, perplexity: finite.nullable() }),
  event("quality", QualityResult.shape),
  DoneEvent,
  event("error", { code: TrainerErrorCode, message: z.string() }),
]);
export type TrainerEvent = z.infer<typeof TrainerEvent>;

/**
 * How one training run ended, decided from its events and exit status: success only with a `done`
 * event and exit code 0. `timeout` and `crashed` are the GPU actor's own codes beside the trainer's.
 */
export type TrainerOutcome =
  | { ok: true; done: DoneEvent }
  | { ok: false; code: TrainerErrorCode | "timeout" | "crashed"; message: string };
