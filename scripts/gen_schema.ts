/** Writes the trainer contract (core/training.ts) as JSON Schema for the Python side. */
import { z } from "zod";
import { TrainerEvent, TrainingSpec } from "../core/training.ts";

export function trainerSchemas(): Record<string, unknown> {
  return {
    "training_spec.schema.json": z.toJSONSchema(TrainingSpec, { io: "input" }),
    "events.schema.json": z.toJSONSchema(TrainerEvent, { io: "output" }),
  };
}

if (import.meta.main) {
  const dir = new URL("../trainer/schema/", import.meta.url);
  await Deno.mkdir(dir, { recursive: true });
  for (const [name, schema] of Object.entries(trainerSchemas())) {
    await Deno.writeTextFile(new URL(name, dir), JSON.stringify(schema, null, 2) + "\n");
    console.log(`wrote trainer/schema/${name}`);
  }
}
