/**
 * What one task may ask of this miner (issue 12): only base models the operator allows, whatever a
 * validator names and whatever lies on disk; no field above `training.limits`; nothing that cannot
 * finish before its deadline or `miner.task_time_limit_s`.
 */
import assert from "node:assert/strict";
import { admissionPolicy } from "../actors/queue/policy.ts";
import { TaskRequest } from "../core/task.ts";
import { startAdmission, T0 } from "./admission_harness.ts";

const V = "5Validator";

function request(id: string, training: Record<string, unknown>, over: Record<string, unknown> = {}) {
  return TaskRequest.parse({
    id,
    type: "text",
    dataset: { kind: "hf", repo: "satori/toy", revision: "main" },
    training: { base_model: "Qwen/Qwen2.5-7B-Instruct", ...training },
    ...over,
  });
}

Deno.test("acceptTask() refuses a local base_model path with one message whatever lies on disk", async () => {
  await using h = await startAdmission();
  const here = await Deno.makeTempDir();
  await Deno.writeTextFile(`${here}/config.json`, "{}");
  const names = [
    here,
    `${here}/missing`,
    "/etc",
    "/nonexistent/model",
    "../../etc/passwd",
    "./model",
    "tiny-llama",
  ];
  const messages = new Set<string>();
  for (const [i, name] of names.entries()) {
    const answer = await h.accept(request(`m-${i}`, { base_model: name }), V, 5_000);
    assert.ok(!answer.ok && answer.reason === "model_not_allowed", `${name}: ${JSON.stringify(answer)}`);
    messages.add(answer.message.replace(`"m-${i}"`, "ID").replace(JSON.stringify(name), "NAME"));
  }
  assert.deepEqual([...messages], [
    "Cannot accept task ID: base_model NAME is not a model this miner trains for text tasks " +
    '(it trains: "Qwen/Qwen2.5-7B-Instruct")',
  ]);
  assert.equal(await h.store.getTask("m-0"), null, "a refused task leaves no record");
});

Deno.test("acceptTask() takes a local folder only when the operator listed exactly that folder", async () => {
  const folder = "/models/tiny-llama";
  await using h = await startAdmission({ policy: admissionPolicy({ allowedBaseModels: [folder] }) });
  assert.ok((await h.accept(request("listed", { base_model: folder }), V, 5_000)).ok);
  for (const [i, name] of [`${folder}/`, `${folder}/../../etc`, "/models", `${folder}-2`].entries()) {
    const answer = await h.accept(request(`near-${i}`, { base_model: name }), V, 5_000);
    assert.ok(!answer.ok && answer.reason === "model_not_allowed", name);
    assert.ok(!answer.message.includes(folder + '"'), "allowed folders are never listed");
  }
});

Deno.test("acceptTask() refuses max_steps beyond the cap, naming the field and the cap", async () => {
  await using h = await startAdmission();
  const steps = await h.accept(request("steps", { hyperparameters: { max_steps: 1e12 } }), V, 5_000);
  assert.deepEqual(steps, {
    ok: false,
    reason: "over_limit",
    message: 'Cannot accept task "steps": training.hyperparameters.max_steps is 1000000000000, ' +
      "above this miner's cap of 20000 (training.limits.max_steps)",
  });
  const hostile = { rank: 20_000, learning_rate: 1e308, batch_size: 1e9, max_seq_length: 1e9, max_steps: 4 };
  const all = await h.accept(request("all", { hyperparameters: hostile }), V, 5_000);
  assert.ok(!all.ok && all.reason === "over_limit");
  for (const cap of ["max_rank", "max_learning_rate", "max_batch_size", "max_seq_length"]) {
    assert.match(all.message, new RegExp(`training\\.limits\\.${cap}\\)`));
  }
  const image = TaskRequest.parse({
    id: "img",
    type: "image",
    dataset: { kind: "hf", repo: "satori/toy", revision: "main" },
    training: {
      base_model: "black-forest-labs/FLUX.1-dev",
      hyperparameters: { max_steps: 4, resolution: 1e6 },
      quality: { num_inference_steps: 1e9 },
    },
  });
  const img = await h.accept(image, V, 5_000);
  assert.ok(!img.ok && img.reason === "over_limit");
  assert.match(
    img.message,
    /training\.hyperparameters\.resolution is 1000000, above this miner's cap of 2048/,
  );
  assert.match(img.message, /training\.quality\.num_inference_steps is 1000000000/);
  const capped = admissionPolicy({ limits: { max_steps: 10 } });
  await using small = await startAdmission({ policy: capped });
  const eleven = await small.accept(request("eleven", { hyperparameters: { max_steps: 11 } }), V, 5_000);
  assert.ok(!eleven.ok && /cap of 10 \(training\.limits\.max_steps\)/.test(eleven.message));
});

Deno.test("acceptTask() refuses a task whose run-time estimate passes its deadline or the time limit", async () => {
  await using h = await startAdmission();
  // 8 × 4096 tokens a step through 7B parameters with checkpointing: about 1.4 s a step at 1 PFLOP/s.
  const hp = { max_steps: 5_000, batch_size: 8, max_seq_length: 4_096, gradient_checkpointing: true };
  const hour = { deadline_ms: T0 + 3_600_000 };
  const late = await h.accept(request("late", { hyperparameters: hp }, hour), V, 5_000);
  assert.deepEqual(late, {
    ok: false,
    reason: "too_long",
    message: 'Cannot accept task "late": it would train for at least 1 h 55 min (estimated from its steps ' +
      "and size), past its deadline in 1 h",
  });
  const long = await h.accept(request("long", { hyperparameters: { ...hp, max_steps: 20_000 } }), V, 5_000);
  assert.ok(!long.ok && long.reason === "too_long");
  assert.match(
    long.message,
    /at least 7 h 39 min .*longer than this miner's limit of 6 h \(miner\.task_time_limit_s\)/,
  );
  const fits = await h.accept(
    request("fits", { hyperparameters: { ...hp, max_steps: 2_000 } }, hour),
    V,
    5_000,
  );
  assert.deepEqual(fits, { ok: true, taskId: "fits", position: 1 });
});
