/**
 * A tiny Llama and a toy JSONL dataset for tests that run the real trainer, built once per machine by
 * trainer/tiny.py (nothing downloaded) and shared by the test files that need them.
 */
export const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
export const PYTHON = `${ROOT}/.venv/bin/python`;
/** Keeps the trainer small on a 2-core CI machine and off the network. */
export const TRAINER_ENV = {
  HF_HUB_OFFLINE: "1",
  TRANSFORMERS_OFFLINE: "1",
  OMP_NUM_THREADS: "1",
  TOKENIZERS_PARALLELISM: "false",
  TRAINER_LOG_LEVEL: "WARNING",
};

const BUILD = `
import json, sys
from pathlib import Path
from trainer.tiny import build_tiny_llama
out = Path(sys.argv[1])
build_tiny_llama(out / "model")
sounds = {"cat": "meow meow", "dog": "woof woof", "bird": "tweet tweet", "cow": "moo moo"}
names = list(sounds)
rows = [{"prompt": f"what does the {names[i % 4]} say?", "response": sounds[names[i % 4]]} for i in range(40)]
(out / "dataset").mkdir()
(out / "dataset" / "train.jsonl").write_text("".join(json.dumps(r) + "\\n" for r in rows))
`;

/** Paths of the tiny model folder and the dataset folder (built on first use). */
export async function tinyText(): Promise<{ model: string; dataset: string }> {
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  const dir = `${tmp}/satori-tiny-text-v1`;
  const ready = { model: `${dir}/model`, dataset: `${dir}/dataset` };
  if (await exists(`${dir}/dataset/train.jsonl`)) return ready;
  const staging = await Deno.makeTempDir({ dir: tmp, prefix: "satori-tiny-text-" });
  const out = await new Deno.Command(PYTHON, { args: ["-c", BUILD, staging], cwd: ROOT, env: TRAINER_ENV })
    .output();
  if (!out.success) throw new Error(`Cannot build the tiny model: ${new TextDecoder().decode(out.stderr)}`);
  // Another test file may have won the race; either copy is as good.
  await Deno.rename(staging, dir).catch(() => Deno.remove(staging, { recursive: true }));
  return ready;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Training settings small enough for a few seconds on one CPU core, that still pass the quality check. */
export function tinyTraining(model: string, maxSteps = 6) {
  return {
    base_model: model,
    hyperparameters: {
      max_steps: maxSteps,
      batch_size: 2,
      max_seq_length: 32,
      learning_rate: 0.02,
      checkpoint_every: 2,
    },
    quality: { min_improvement: 0 },
  };
}
