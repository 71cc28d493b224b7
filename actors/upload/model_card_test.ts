import assert from "node:assert/strict";
import { parse } from "yaml";
import { newTask, TaskRequest } from "../../core/task.ts";
import { textTask } from "../../tests/fixtures.ts";
import type { DoneEvent } from "../../core/training.ts";
import { cardMetadata, renderModelCard, widgetEntries } from "./model_card.ts";

const done = (samples: string[] = []): DoneEvent => ({
  type: "done",
  time: 1,
  artifacts: [{ path: "adapter_model.safetensors", sha256: "a".repeat(64), bytes: 10 }],
  metrics: { eval_loss: 1.2345678, perplexity: 3.4, note: "x|y", missing: null },
  quality: {
    passed: true,
    metric: "eval_loss",
    base: 1.5,
    adapter: 1.2,
    threshold: 1.4,
    detail: "ok",
    samples,
  },
});

function frontMatter(card: string): Record<string, unknown> {
  const m = card.match(/^---\n([\s\S]*?)\n---\n/);
  assert.ok(m, "front matter");
  return parse(m[1]);
}

Deno.test("renderModelCard() writes peft front matter for a text adapter, with dataset and metrics", () => {
  const task = textTask("t-1", 1, {
    training: { base_model: "Qwen/Qwen2.5-0.5B", hyperparameters: { max_steps: 4 } },
  });
  const card = renderModelCard({ task, done: done(), repoId: "alice/satori-text-lora-t-1" });
  const meta = frontMatter(card);
  assert.equal(meta.base_model, "Qwen/Qwen2.5-0.5B");
  assert.equal(meta.base_model_relation, "adapter");
  assert.equal(meta.library_name, "peft");
  assert.equal(meta.pipeline_tag, "text-generation");
  assert.deepEqual(meta.tags, ["lora", "text-generation", "base_model:adapter:Qwen/Qwen2.5-0.5B"]);
  assert.deepEqual(meta.datasets, ["satori/toy"]);
  assert.deepEqual(meta.metrics, ["eval_loss", "perplexity"]);
  assert.equal(meta.widget, undefined);
  assert.match(card, /AutoPeftModelForCausalLM\.from_pretrained\("alice\/satori-text-lora-t-1"\)/);
  assert.match(card, /\| eval_loss \| 1\.23457 \|/);
  assert.match(card, /\| note \| x\\\|y \|/);
  assert.doesNotMatch(card, /missing/);
});

Deno.test("renderModelCard() writes diffusers front matter with a widget of the LoRA samples", () => {
  const request = TaskRequest.parse({
    id: "i-1",
    type: "image",
    dataset: { kind: "url", url: "https://example.com/d.zip", sha256: "b".repeat(64) },
    training: { base_model: "black-forest-labs/FLUX.1-dev", quality: { prompts: ["a sks dog", "sks"] } },
  });
  const samples = ["samples/base_0.png", "samples/base_1.png", "samples/lora_0.png", "samples/lora_1.png"];
  const card = renderModelCard({ task: newTask(request, "v", 1), done: done(samples), repoId: "a/b" });
  const meta = frontMatter(card);
  assert.equal(meta.library_name, "diffusers");
  assert.equal(meta.pipeline_tag, "text-to-image");
  assert.deepEqual((meta.tags as string[]).slice(0, 4), ["lora", "text-to-image", "flux", "diffusers"]);
  assert.equal(meta.datasets, undefined, "a URL dataset has no Hub id");
  assert.equal(meta.license, "other");
  assert.equal(meta.instance_prompt, "a sks dog");
  assert.deepEqual(meta.widget, [
    { text: "a sks dog", output: { url: "samples/lora_0.png" } },
    { text: "sks", output: { url: "samples/lora_1.png" } },
  ]);
  assert.match(card, /<Gallery \/>/);
  assert.match(card, /load_lora_weights\("a\/b", weight_name="pytorch_lora_weights.safetensors"\)/);
});

Deno.test("cardMetadata() leaves out a base model given as a local path, which the Hub would reject", () => {
  const task = textTask("t-2", 1, { training: { base_model: "/models/tiny-llama" } });
  const meta = cardMetadata({ task, done: done(), repoId: "a/b" });
  assert.equal(meta.base_model, undefined);
  assert.equal(meta.base_model_relation, undefined);
  assert.deepEqual(meta.tags, ["lora", "text-generation"]);
});

Deno.test("renderModelCard() is deterministic, so a re-run renders the same bytes", () => {
  const input = { task: textTask("t-3"), done: done(), repoId: "a/b" };
  assert.equal(renderModelCard(input), renderModelCard(structuredClone(input)));
});

Deno.test("widgetEntries() pairs any samples with prompts when none are named lora_<i>", () => {
  assert.deepEqual(widgetEntries(["p"], ["x.png"]), [{ text: "p", output: { url: "x.png" } }]);
});
