/**
 * Where a task can run. The VRAM estimate is deliberately simple, per GPU (data parallel keeps a full
 * replica on each card):
 *   weights     = parameters × bytes per parameter (fp32: 4, bf16/fp16/auto: 2; image fp8: 1, nf4: 0.5)
 *   activations = tokens per step × billions of parameters × 0.5 MiB (÷ 8 with gradient checkpointing),
 *                 tokens per step = batch × max_seq_length (text) or batch × (resolution / 16)² (image)
 *   overhead    = 1 536 MiB (CUDA context, LoRA weights and optimizer state, allocator slack)
 * The parameter count comes from the model name ("Llama-3.1-8B" → 8, "SmolLM2-135M" → 0.135,
 * "Mixtral-8x7B" → 56); a name without a size counts as 7B for text and FLUX-sized (12B + 5B of
 * frozen encoders) for images. A task needing N GPUs waits for N idle devices that each fit it.
 *
 * Run time is estimated just as simply, and optimistically, since it only refuses what cannot finish:
 *   seconds = max_steps × tokens per optimizer step × FLOPs per token ÷ (peak FLOP/s × GPUs)
 *   tokens per optimizer step = tokens per step above × gradient_accumulation
 *   FLOPs per token = 4 × parameters (forward 2, backward through frozen weights 2; 6 with checkpointing)
 *   peak FLOP/s = 1e15 per CUDA device (a current datacenter card's dense bf16), 2e12 on the CPU
 * A task bounded by epochs only has no estimate until its dataset is known; the GPU actor's
 * `miner.task_time_limit_s` still stops it. The quality check and evaluation are not counted.
 */
import type { Task } from "../../core/task.ts";
import type { TrainingSpec } from "../../core/training.ts";
import { type Device, deviceKey, freeMemoryMb } from "../../core/device.ts";

export type Need = { gpus: number; vramMb: number };

const MIB_PER_TOKEN_PER_B = 0.5;
const OVERHEAD_MB = 1_536;
const DEFAULT_TEXT_B = 7;
const DEFAULT_IMAGE_B = 12;
const IMAGE_ENCODERS_B = 5;
const PEAK_FLOPS = { cuda: 1e15, cpu: 2e12 } as const;

/** Billions of parameters named in `model`, or null when the name gives no size. */
export function paramsBillionOf(model: string): number | null {
  const name = model.split("/").at(-1)!.toLowerCase();
  const moe = name.match(/(?:^|[^a-z0-9.])(\d+)x(\d+(?:\.\d+)?)b(?![a-z0-9])/);
  if (moe) return Number(moe[1]) * Number(moe[2]);
  const size = name.match(/(?:^|[^a-z0-9.])(\d+(?:\.\d+)?)([bm])(?![a-z0-9])/);
  if (!size) return null;
  return Number(size[1]) / (size[2] === "m" ? 1_000 : 1);
}

function paramsBOf(spec: TrainingSpec): number {
  return paramsBillionOf(spec.base_model) ?? (spec.type === "text" ? DEFAULT_TEXT_B : DEFAULT_IMAGE_B);
}

/** Tokens one forward pass sees: batch × sequence length (text) or batch × latent patches (image). */
function tokensPerStep(spec: TrainingSpec): number {
  return spec.type === "text"
    ? spec.hyperparameters.batch_size * spec.hyperparameters.max_seq_length
    : spec.hyperparameters.batch_size * (spec.hyperparameters.resolution / 16) ** 2;
}

export function estimateVramMb(spec: TrainingSpec): number {
  const hp = spec.hyperparameters;
  const named = paramsBillionOf(spec.base_model);
  const paramsB = paramsBOf(spec);
  let bytes = hp.precision === "fp32" ? 4 : 2;
  let frozenMb = 0;
  const tokens = tokensPerStep(spec);
  if (spec.type === "image") {
    const q = spec.hyperparameters.quantization;
    bytes = q === "fp8" ? 1 : q === "nf4" ? 0.5 : bytes;
    frozenMb = named === null ? (IMAGE_ENCODERS_B * 1e9 * 2) / 2 ** 20 : 0;
  }
  const weightsMb = (paramsB * 1e9 * bytes) / 2 ** 20;
  const activationsMb = tokens * paramsB * MIB_PER_TOKEN_PER_B / (hp.gradient_checkpointing ? 8 : 1);
  return Math.ceil(weightsMb + frozenMb + activationsMb + OVERHEAD_MB);
}

/**
 * Optimistic seconds `task` trains on `devices` (the fastest kind there), or null when it is bounded
 * by epochs only. See the model above.
 */
export function estimateRunS(task: Task, devices: readonly Device[]): number | null {
  const spec = trainingSpecLike(task);
  const hp = spec.hyperparameters;
  if (hp.max_steps === null) return null;
  const flops = devices.some((d) => d.kind === "cuda") ? PEAK_FLOPS.cuda : PEAK_FLOPS.cpu;
  const perToken = (hp.gradient_checkpointing ? 6 : 4) * paramsBOf(spec) * 1e9;
  const tokens = tokensPerStep(spec) * hp.gradient_accumulation;
  return (hp.max_steps * tokens * perToken) / (flops * task.request.gpus);
}

export function needOf(task: Task): Need {
  return { gpus: task.request.gpus, vramMb: estimateVramMb(trainingSpecLike(task)) };
}

/** The spec with defaults filled, read without zod on the hot path (the record is already valid). */
function trainingSpecLike(task: Task): TrainingSpec {
  const r = task.request;
  return { ...r.training, type: r.type, task_id: r.id } as TrainingSpec;
}

/**
 * Best fit: of the idle devices with enough free memory, the `need.gpus` tightest ones (ties by
 * index), leaving the big cards to the big tasks. Null when too few fit now.
 */
export function place(need: Need, idle: readonly Device[]): Device[] | null {
  const fits = idle.filter((d) => freeMemoryMb(d) >= need.vramMb);
  if (fits.length < need.gpus) return null;
  return fits.sort((a, b) => freeMemoryMb(a) - freeMemoryMb(b) || a.index - b.index).slice(0, need.gpus);
}

/** Why `need` can never run on `all` (judged by total memory, since busy cards free up), or null. */
export function unplaceable(need: Need, all: readonly Device[]): string | null {
  const total = (d: Device) => (d.kind === "cuda" ? d.memoryTotalMb : Number.POSITIVE_INFINITY);
  const big = all.filter((d) => total(d) >= need.vramMb);
  if (big.length >= need.gpus) return null;
  const what = need.gpus === 1 ? "1 device" : `${need.gpus} devices`;
  return `it needs ${what} with about ${need.vramMb} MiB each; this miner has ${big.length} such ` +
    `(${all.map(deviceKey).join(", ")})`;
}
