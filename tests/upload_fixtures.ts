/**
 * Trainer outputs for upload tests: an out dir laid out as trainer/text.py and trainer/image.py leave
 * it, and the matching `done` event (sha256 and sizes computed from the files written).
 */
import { createHash } from "node:crypto";
import { newTask, type Task, TaskRequest } from "../core/task.ts";
import type { DoneEvent } from "../core/training.ts";
import { textTask } from "./fixtures.ts";

/** Disposing removes the out dir. */
export type TrainedOutput = AsyncDisposable & {
  task: Task;
  done: DoneEvent;
  outDir: string;
  files: Record<string, Uint8Array>;
};

/** Deterministic pseudo-random bytes (incompressible enough to look like weights). */
export function weights(n: number, seed = 1): Uint8Array {
  let x = seed * 2654435761 >>> 0;
  return Uint8Array.from({ length: n }, () => (x = (x * 1103515245 + 12345) >>> 0) >>> 24);
}

const PNG = (seed: number) =>
  new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, ...weights(64, seed)]);
const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v, null, 2) + "\n");

export function imageTask(id: string): Task {
  const request = TaskRequest.parse({
    id,
    type: "image",
    dataset: { kind: "hf", repo: "satori/dogs", revision: "main" },
    training: {
      base_model: "black-forest-labs/FLUX.1-dev",
      quality: { prompts: ["a photo of sks dog", "sks dog"] },
    },
  });
  return newTask(request, "5Validator", 1_000);
}

/** Writes `files` under a new temp dir and describes them as the trainer's `done` would. */
async function write(
  task: Task,
  files: Record<string, Uint8Array>,
  samples: string[],
): Promise<TrainedOutput> {
  const outDir = await Deno.makeTempDir({ prefix: "upload-out-" });
  for (const [path, bytes] of Object.entries(files)) {
    await Deno.mkdir(`${outDir}/${path}`.replace(/\/[^/]+$/, ""), { recursive: true });
    await Deno.writeFile(`${outDir}/${path}`, bytes);
  }
  const artifacts = Object.entries(files).map(([path, b]) => ({
    path,
    sha256: createHash("sha256").update(b).digest("hex"),
    bytes: b.length,
  }));
  const text = task.request.type === "text";
  const done: DoneEvent = {
    type: "done",
    time: 1,
    artifacts,
    metrics: text
      ? {
        kind: "text",
        steps: 4,
        eval_loss: 1.25,
        perplexity: 3.49,
        base_eval_loss: 1.5,
        eval_on_train: false,
      }
      : { kind: "image", steps: 4, mean_abs_diff: 0.02 },
    quality: {
      passed: true,
      metric: text ? "eval_loss" : "mean_abs_diff",
      base: text ? 1.5 : null,
      adapter: text ? 1.25 : 0.02,
      threshold: text ? 1.485 : 0.001,
      detail: "adapter beats base",
      samples,
    },
  };
  const dispose = () => Deno.remove(outDir, { recursive: true }).catch(() => {});
  return { task, done, outDir, files, [Symbol.asyncDispose]: dispose };
}

/** A text LoRA as peft saves it: small JSON files inline, the safetensors through LFS. */
export function textOutput(id = "t-1", adapterBytes = 40_000): Promise<TrainedOutput> {
  return write(textTask(id), {
    "adapter_config.json": json({
      peft_type: "LORA",
      r: 8,
      lora_alpha: 16,
      base_model_name_or_path: "tiny-llama",
    }),
    "adapter_model.safetensors": weights(adapterBytes),
    "metrics.json": json({ eval_loss: 1.25 }),
    "training_args.json": json({ rank: 8 }),
  }, []);
}

/** A FLUX LoRA with sample images under samples/, as trainer/image.py lists them. */
export function imageOutput(id = "i-1", loraBytes = 300_000): Promise<TrainedOutput> {
  const samples = ["samples/base_0.png", "samples/base_1.png", "samples/lora_0.png", "samples/lora_1.png"];
  return write(imageTask(id), {
    "pytorch_lora_weights.safetensors": weights(loraBytes, 3),
    "pytorch_lora_weights_kohya.safetensors": weights(loraBytes / 2, 5),
    "metrics.json": json({ mean_abs_diff: 0.02 }),
    "training_args.json": json({ rank: 16 }),
    ...Object.fromEntries(samples.map((s, i) => [s, PNG(i + 10)])),
  }, samples);
}
