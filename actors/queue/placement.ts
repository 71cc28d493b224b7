/**
 * Where a task can run. The VRAM estimate, per GPU (data parallel keeps a full replica on each card), is the
 * trainer's own: the memory mode table trainer/modes.json, read through core/memory_modes.ts. The trainer
 * runs a task in the fastest mode (quantized base, checkpointing) that fits the card it lands on, so a task
 * needs a card that fits its most frugal allowed mode (with `speed.mode` "as_given": exactly its own):
 *   weights     = parameters × bytes per parameter (the precision's; fp8 1, nf4 0.5625)
 *   activations = tokens per micro-batch × billions of parameters × MiB per token per billion (table;
 *                 less when checkpointed); tokens = batch × max_seq_length (text) or
 *                 batch × ((resolution / 16)² + 512 T5 tokens) (image)
 *   LoRA + overhead from the table; for images at least the text encoders' phase (5B, freed before the
 *   transformer loads)
 * The parameter count comes from the model name ("Llama-3.1-8B" → 8, "SmolLM2-135M" → 0.135,
 * "Mixtral-8x7B" → 56); a name without a size counts as the table's default (7B text, 12B FLUX).
 * A task needing N GPUs waits for N idle devices that each fit it.
 *
 * Run time is estimated just as simply, and optimistically, since it only refuses what cannot finish:
 *   seconds = max_steps × tokens per optimizer step × FLOPs per token ÷ (peak FLOP/s × GPUs)
 *   tokens per optimizer step = tokens per step above × gradient_accumulation
 *   FLOPs per token = 4 × parameters (forward 2, backward through frozen weights 2; 6 with checkpointing)
 *   peak FLOP/s = 1e15 per CUDA device (a current datacenter card's dense bf16), 2e12 on the CPU
 * A task bounded by epochs only has no estimate until its dataset is known; the GPU actor's
 * `miner.task_time_limit_s` still stops it. The quality check and evaluation are not counted.
 *
 * A base model not yet in the cache adds its download (`downloadEstimateS`): the bytes left over the
 * rate seen so far, or, before the Hub has said its size, 2 bytes per parameter named in the model id
 * (else 16 GB) at 50 MB/s.
 */
import type { Task } from "../../core/task.ts";
import type { TrainingSpec } from "../../core/training.ts";
import { type Device, deviceKey, freeMemoryMb, hostOf } from "../../core/device.ts";
import { type CachedModel, isHubModel } from "../../core/model_cache.ts";
import {
  candidateModes,
  estimateModeMib,
  MODE_TABLE,
  type Precision,
  tokensOf,
  type Workload,
} from "../../core/memory_modes.ts";

export type Need = { gpus: number; vramMb: number };

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
  return paramsBillionOf(spec.base_model) ?? MODE_TABLE.default_params_b[spec.type];
}

/** Tokens one forward pass sees: batch × sequence length (text) or batch × latent patches (image). */
function tokensPerStep(spec: TrainingSpec): number {
  return spec.type === "text"
    ? spec.hyperparameters.batch_size * spec.hyperparameters.max_seq_length
    : spec.hyperparameters.batch_size * (spec.hyperparameters.resolution / 16) ** 2;
}

/** The trainer's view of `spec` (trainer/modes.py `Workload`), sized from the model name. */
export function workloadOf(spec: TrainingSpec): Workload {
  const hp = spec.hyperparameters;
  const precision: Precision = hp.precision === "fp32" ? "fp32" : hp.precision === "fp16" ? "fp16" : "bf16";
  const image = spec.type === "image";
  const tokens = image
    ? tokensOf("image", hp.batch_size, spec.hyperparameters.resolution)
    : tokensOf("text", hp.batch_size, spec.hyperparameters.max_seq_length);
  return {
    kind: spec.type,
    paramsB: paramsBOf(spec),
    tokens,
    rank: hp.rank,
    precision,
    encodersB: image ? MODE_TABLE.image_encoders_b : 0,
  };
}

/** MiB per GPU of the task's most frugal allowed memory mode: a card with that much free can take it. */
export function estimateVramMb(spec: TrainingSpec): number {
  const hp = spec.hyperparameters;
  const quantization = spec.type === "image" ? spec.hyperparameters.quantization : "none";
  // A task recorded before `speed` existed has none: it runs in auto mode.
  const asGiven = (hp.speed as typeof hp.speed | undefined)?.mode === "as_given";
  const modes = candidateModes(spec.type, quantization, hp.gradient_checkpointing, asGiven);
  const w = workloadOf(spec);
  const own = { quantization, checkpointing: hp.gradient_checkpointing, weight_bytes: null } as const;
  const mibs = modes.length
    ? modes.map((m) => estimateModeMib(m, w))
    : [estimateModeMib({ ...own, relative_step_time: 1, kinds: [spec.type], auto: true, needs: null }, w)];
  return Math.ceil(Math.min(...mibs));
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

const ASSUMED_BYTES_PER_S = 50e6;
const UNKNOWN_MODEL_BYTES = 16e9;

/** Seconds until `model` is in the cache: 0 when cached or a local folder; see the model above. */
export function downloadEstimateS(model: string, cached: CachedModel | undefined): number {
  if (!isHubModel(model) || cached?.state === "cached") return 0;
  const named = paramsBillionOf(model);
  const total = cached?.totalBytes ?? (named === null ? UNKNOWN_MODEL_BYTES : named * 2e9);
  const left = Math.max(0, total - (cached?.state === "downloading" ? cached.doneBytes : 0));
  return left / (cached?.bytesPerS || ASSUMED_BYTES_PER_S);
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
 * index), leaving the big cards to the big tasks. The cards of one run share a host (a Ray node: one
 * LoRA does not span machines); of the hosts that can take it, the one left with the least. Null
 * when too few fit now.
 */
export function place(need: Need, idle: readonly Device[]): Device[] | null {
  const hosts = [...byHost(idle.filter((d) => freeMemoryMb(d) >= need.vramMb)).values()]
    .filter((fits) => fits.length >= need.gpus);
  if (hosts.length === 0) return null;
  const tightest = hosts.reduce((a, b) => (b.length < a.length ? b : a));
  return tightest.sort((a, b) => freeMemoryMb(a) - freeMemoryMb(b) || a.index - b.index).slice(0, need.gpus);
}

function byHost(devices: readonly Device[]): Map<string, Device[]> {
  const hosts = new Map<string, Device[]>();
  for (const d of devices) hosts.set(hostOf(d), [...(hosts.get(hostOf(d)) ?? []), d]);
  return hosts;
}

/** Why `need` can never run on `all` (judged by total memory, since busy cards free up), or null. */
export function unplaceable(need: Need, all: readonly Device[]): string | null {
  const total = (d: Device) => (d.kind === "cuda" ? d.memoryTotalMb : Number.POSITIVE_INFINITY);
  const big = all.filter((d) => total(d) >= need.vramMb);
  const most = Math.max(0, ...[...byHost(big).values()].map((ds) => ds.length));
  if (most >= need.gpus) return null;
  const where = byHost(all).size > 1 ? " on one machine" : "";
  const what = need.gpus === 1 ? "1 device" : `${need.gpus} devices${where}`;
  return `it needs ${what} with about ${need.vramMb} MiB each; this miner has ${most} such ` +
    `(${all.map(deviceKey).join(", ") || "no devices"})`;
}
