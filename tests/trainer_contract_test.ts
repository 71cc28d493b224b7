/**
 * The trainer contract seen from the TypeScript side: every line of the shared fixture
 * (trainer/tests/fixtures/events.jsonl, copied from real trainer runs; the pytest suite validates the
 * same file against the generated JSON Schema) parses with `TrainerEvent`, and example task specs parse
 * with `TrainingSpec` with the defaults the trainer also applies.
 */
import assert from "node:assert/strict";
import { TrainerEvent, TrainingSpec } from "../core/training.ts";

const FIXTURE = new URL("../trainer/tests/fixtures/events.jsonl", import.meta.url);

async function fixtureLines(): Promise<unknown[]> {
  const text = await Deno.readTextFile(FIXTURE);
  return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

Deno.test("TrainerEvent parses every line of the trainer events fixture", async () => {
  const lines = await fixtureLines();
  const types = new Set<string>();
  for (const line of lines) {
    const parsed = TrainerEvent.safeParse(line);
    assert.ok(parsed.success, `fixture line does not parse: ${JSON.stringify(line)}\n${parsed.error}`);
    types.add(parsed.data.type);
  }
  assert.deepEqual([...types].sort(), [
    "checkpoint",
    "done",
    "error",
    "eval",
    "progress",
    "quality",
    "started",
  ]);
});

Deno.test("TrainerEvent rejects a fixture event with an extra field", async () => {
  const [first] = await fixtureLines();
  assert.equal(TrainerEvent.safeParse({ ...(first as object), surprise: 1 }).success, false);
});

Deno.test("TrainingSpec parses a minimal text spec with defaults filled", () => {
  const spec = TrainingSpec.parse({ task_id: "t-1", type: "text", base_model: "org/model" });
  assert.equal(spec.type, "text");
  if (spec.type !== "text") return;
  assert.equal(spec.hyperparameters.rank, 16);
  assert.equal(spec.hyperparameters.packing, false);
  assert.equal(spec.dataset.columns.text, null);
  assert.equal(spec.quality.min_improvement, 0.01);
});

Deno.test("TrainingSpec parses a full image spec and rejects unknown fields", () => {
  const spec = TrainingSpec.parse({
    task_id: "img-1",
    type: "image",
    base_model: "black-forest-labs/FLUX.1-dev",
    hyperparameters: { rank: 8, resolution: 512, quantization: "nf4", max_steps: 500 },
    dataset: { format: "metadata", caption_column: "text" },
    quality: { prompts: ["a photo of sks dog"], num_inference_steps: 8 },
  });
  assert.equal(spec.type, "image");
  if (spec.type !== "image") return;
  assert.equal(spec.hyperparameters.guidance_scale, 1);
  assert.equal(spec.quality.min_difference, 0.001);
  assert.equal(
    TrainingSpec.safeParse({
      task_id: "t",
      type: "image",
      base_model: "m",
      hyperparameters: { packing: true },
    })
      .success,
    false,
  );
});
