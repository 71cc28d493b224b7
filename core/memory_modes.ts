/**
 * The memory mode table (trainer/modes.json), read by the queue exactly as the trainer reads it
 * (trainer/modes.py): one owner of the numbers, two readers. A mode is how the frozen base is stored
 * (quantization none/fp8/nf4) and whether activations are checkpointed; the trainer picks the fastest one
 * that fits the card it lands on, so the queue needs a task's most frugal mode to know which cards can
 * take it. trainer/tests/fixtures/mode_cases.json holds worked estimates both sides must reproduce.
 * Every number in the table is an estimate until bench/gpu_check.py has measured it (`measured`).
 */
import { z } from "zod";
import raw from "../trainer/modes.json" with { type: "json" };

const Mode = z.object({
  quantization: z.enum(["none", "fp8", "nf4"]),
  checkpointing: z.boolean(),
  weight_bytes: z.number().positive().nullable(),
  relative_step_time: z.number().positive(),
  kinds: z.array(z.enum(["text", "image"])),
  auto: z.boolean(),
  needs: z.string().nullable(),
});
export type Mode = z.infer<typeof Mode>;

const ModeTable = z.object({
  measured: z.boolean(),
  overhead_mib: z.number().nonnegative(),
  free_share: z.number().positive().max(1),
  bytes_per_param: z.object({ fp32: z.number(), bf16: z.number(), fp16: z.number() }),
  activation_mib_per_token_per_b: z.object({ full: z.number(), checkpointing: z.number() }),
  lora_mib_per_rank_per_b: z.number().nonnegative(),
  image_patch_px: z.number().int().positive(),
  image_text_tokens: z.number().int().nonnegative(),
  default_params_b: z.object({ text: z.number().positive(), image: z.number().positive() }),
  image_encoders_b: z.number().nonnegative(),
  modes: z.array(Mode).min(1),
});

/** Parsed once at load: a malformed table is a build error, caught by every test that imports this. */
export const MODE_TABLE = ModeTable.parse(raw);

export type Precision = "fp32" | "bf16" | "fp16";

/** What the estimate needs to know about a task (trainer/modes.py `Workload`). */
export type Workload = {
  kind: "text" | "image";
  paramsB: number;
  tokens: number;
  rank: number;
  precision: Precision;
  encodersB: number;
};

/** Tokens per micro-batch: batch × sequence length, or batch × (latent patches + T5 tokens). */
export function tokensOf(kind: "text" | "image", batch: number, seqOrResolution: number): number {
  if (kind === "text") return batch * seqOrResolution;
  const side = Math.floor(seqOrResolution / MODE_TABLE.image_patch_px);
  return batch * (side ** 2 + MODE_TABLE.image_text_tokens);
}

/** Estimated peak MiB per GPU of `w` in `mode` (trainer/modes.py `estimate_mib`). */
export function estimateModeMib(mode: Mode, w: Workload, perForward = 1): number {
  const t = MODE_TABLE;
  const weights = (w.paramsB * 1e9 * (mode.weight_bytes ?? t.bytes_per_param[w.precision])) / 2 ** 20;
  const perToken = t.activation_mib_per_token_per_b[mode.checkpointing ? "checkpointing" : "full"];
  const train = weights + w.tokens * perForward * w.paramsB * perToken +
    w.rank * w.paramsB * t.lora_mib_per_rank_per_b + t.overhead_mib;
  const encode = (w.encodersB * 1e9 * t.bytes_per_param[w.precision]) / 2 ** 20 + t.overhead_mib;
  return Math.max(train, encode);
}

/**
 * The modes a task may run in on some CUDA card (trainer/modes.py `candidates`): the task's quantization
 * and checkpointing are floors, or exact with `asGiven`; a mode that needs an optional package counts only
 * when the task asks for that quantization itself (the queue cannot see what the trainer host installed).
 */
export function candidateModes(
  kind: "text" | "image",
  quantization: Mode["quantization"],
  checkpointing: boolean,
  asGiven: boolean,
): Mode[] {
  return MODE_TABLE.modes
    .filter((m) => m.kinds.includes(kind))
    .filter((m) =>
      asGiven
        ? m.quantization === quantization && m.checkpointing === checkpointing
        : m.auto && (quantization === "none" || m.quantization === quantization) &&
          (m.checkpointing || !checkpointing)
    )
    .filter((m) => m.needs === null || m.quantization === quantization)
    .sort((a, b) => a.relative_step_time - b.relative_step_time);
}
