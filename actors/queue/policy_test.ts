import assert from "node:assert/strict";
import { ConfigSchema } from "../../core/config.ts";
import { textTask } from "../../tests/fixtures.ts";
import { admissionPolicyOf, baseModelRefusal, formatSeconds, limitRefusal } from "./policy.ts";

const policy = admissionPolicyOf(ConfigSchema.parse({
  training: { allowed_base_models: ["org/extra", "/models/tiny"], text: { base_model: "org/text" } },
}));
const withModel = (base_model: string) => textTask("t", 1, { training: { base_model } });

Deno.test("baseModelRefusal() allows exactly the configured and listed models, and lists only Hub ids", () => {
  for (const ok of ["org/text", "org/extra", "/models/tiny"]) {
    assert.equal(baseModelRefusal(withModel(ok), policy), null);
  }
  assert.equal(
    baseModelRefusal(withModel("/models/tiny/../secret"), policy),
    'base_model "/models/tiny/../secret" is not a model this miner trains for text tasks ' +
      '(it trains: "org/text", "org/extra")',
  );
  assert.ok(baseModelRefusal(withModel("ORG/TEXT"), policy), "matched exactly");
  const long = baseModelRefusal(withModel("x".repeat(500)), policy)!;
  assert.ok(long.length < 250, "a long name is cut");
});

Deno.test("limitRefusal() names every field above its cap, and nothing within", () => {
  assert.equal(limitRefusal(textTask("t"), policy.limits), null);
  const task = textTask("t", 1, {
    training: { base_model: "m", hyperparameters: { max_steps: 4, epochs: 1e6, gradient_accumulation: 1e6 } },
  });
  assert.equal(
    limitRefusal(task, policy.limits),
    "training.hyperparameters.epochs is 1000000, above this miner's cap of 100 (training.limits.max_epochs); " +
      "training.hyperparameters.gradient_accumulation is 1000000, above this miner's cap of 128 " +
      "(training.limits.max_gradient_accumulation)",
  );
});

Deno.test("formatSeconds() reads as a person would say it", () => {
  assert.deepEqual([40, 61, 3_600, 6_881, 5 * 86_400].map(formatSeconds), [
    "40 s",
    "2 min",
    "1 h",
    "1 h 55 min",
    "5 days",
  ]);
});
