import assert from "node:assert/strict";
import { TrainingSpec } from "../../core/training.ts";
import { discoverDevices } from "../gpu/devices.ts";
import { CPU_DEVICE, deviceKey } from "../../core/device.ts";
import type { CachedModel } from "../../core/model_cache.ts";
import {
  downloadEstimateS,
  estimateRunS,
  estimateVramMb,
  paramsBillionOf,
  place,
  unplaceable,
  workloadOf,
} from "./placement.ts";
import { candidateModes, estimateModeMib } from "../../core/memory_modes.ts";
import { textTask } from "../../tests/fixtures.ts";

const fixture = (name: string) => Deno.readTextFileSync(new URL(`../gpu/testdata/${name}`, import.meta.url));

/** Puts a fake `nvidia-smi` printing `csv` first on PATH, as on a real box. */
async function withFakeNvidiaSmi<T>(csv: string, fn: () => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/nvidia-smi`, `#!/bin/sh\ncat <<'CSV'\n${csv}CSV\n`, { mode: 0o755 });
  const path = Deno.env.get("PATH") ?? "";
  Deno.env.set("PATH", `${dir}:${path}`);
  try {
    return await fn();
  } finally {
    Deno.env.set("PATH", path);
  }
}

const spec = (model: string, hp: Record<string, unknown> = {}) =>
  TrainingSpec.parse({ task_id: "t", type: "text", base_model: model, hyperparameters: hp });

Deno.test("paramsBillionOf() reads the size from the model name", () => {
  assert.equal(paramsBillionOf("meta-llama/Llama-3.1-8B-Instruct"), 8);
  assert.equal(paramsBillionOf("Qwen/Qwen2.5-0.5B"), 0.5);
  assert.equal(paramsBillionOf("HuggingFaceTB/SmolLM2-135M"), 0.135);
  assert.equal(paramsBillionOf("mistralai/Mixtral-8x7B-v0.1"), 56);
  assert.equal(paramsBillionOf("/models/tiny-llama"), null);
  assert.equal(paramsBillionOf("gpt2"), null);
});

Deno.test("estimateVramMb() grows with the model and the batch, and shrinks with gradient checkpointing", () => {
  const small = estimateVramMb(spec("Qwen2.5-0.5B"));
  const big = estimateVramMb(spec("Llama-3.1-8B"));
  assert.ok(small < 4_000 && big > 15_000 && big < 24_000, `${small} ${big}`);
  assert.ok(estimateVramMb(spec("Llama-3.1-8B", { batch_size: 8 })) > big);
  assert.ok(
    estimateVramMb(spec("Llama-3.1-8B", { batch_size: 8, gradient_checkpointing: true })) < big + 5_000,
  );
});

Deno.test("estimateVramMb() is the most frugal mode the trainer may pick (trainer/modes.json): FLUX.1-dev fits a 24 GB card only in auto mode", async () => {
  const flux = (hp: Record<string, unknown> = {}) =>
    TrainingSpec.parse({
      task_id: "t",
      type: "image",
      base_model: "black-forest-labs/FLUX.1-dev",
      hyperparameters: hp,
    });
  const { devices } = await withFakeNvidiaSmi(
    fixture("nvidia-smi-1x4090.csv"),
    () => discoverDevices(undefined, null),
  );
  const auto = estimateVramMb(flux());
  const [fp8] = candidateModes("image", "fp8", true, true);
  assert.equal(auto, Math.ceil(estimateModeMib(fp8, workloadOf(flux()))), "fp8 with checkpointing");
  assert.ok(auto < 22 * 1024, `${auto}`);
  assert.equal(unplaceable({ gpus: 1, vramMb: auto }, devices), null);
  const asGiven = estimateVramMb(flux({ speed: { mode: "as_given" } }));
  assert.ok(asGiven > 40_000, `bf16 without checkpointing: ${asGiven}`);
  assert.match(unplaceable({ gpus: 1, vramMb: asGiven }, devices) ?? "", /needs 1 device with about/);
  assert.ok(estimateVramMb(flux({ gradient_checkpointing: true, speed: { mode: "as_given" } })) < asGiven);
  const recorded = flux();
  delete (recorded.hyperparameters as Partial<typeof recorded.hyperparameters>).speed; // a task from before `speed`
  assert.equal(estimateVramMb(recorded), auto);
});

Deno.test("place() picks the tightest idle cards that fit, skipping a busy one, from nvidia-smi on PATH", async () => {
  const { devices } = await withFakeNvidiaSmi(
    fixture("nvidia-smi-8xH100-one-busy.csv"),
    () => discoverDevices(undefined, null),
  );
  assert.equal(devices.length, 8);
  const need = { gpus: 1, vramMb: 30_000 };
  assert.deepEqual(place(need, devices)?.map((d) => d.index), [0], "card 3 has only 20 GiB free");
  assert.deepEqual(
    place({ gpus: 1, vramMb: 10_000 }, devices)?.map((d) => d.index),
    [3],
    "the busy card fits a small task",
  );
  assert.deepEqual(place({ gpus: 2, vramMb: 30_000 }, devices)?.map((d) => d.index), [0, 1]);
  assert.equal(place({ gpus: 8, vramMb: 30_000 }, devices), null, "only 7 cards have room");
  assert.equal(
    unplaceable({ gpus: 8, vramMb: 30_000 }, devices),
    null,
    "but all 8 could once card 3 frees up",
  );
});

Deno.test("place() honours CUDA_VISIBLE_DEVICES subsets and the cpu fallback", async () => {
  const { devices } = await withFakeNvidiaSmi(
    fixture("nvidia-smi-2xA100.csv"),
    () => discoverDevices("1", null),
  );
  assert.deepEqual(devices.map((d) => d.index), [1]);
  assert.equal(place({ gpus: 2, vramMb: 1_000 }, devices), null);
  assert.match(
    unplaceable({ gpus: 2, vramMb: 1_000 }, devices) ?? "",
    /needs 2 devices .* this miner has 1 such \(cuda:1\)/,
  );
  const one = await withFakeNvidiaSmi(
    fixture("nvidia-smi-1x4090.csv"),
    () => discoverDevices(undefined, null),
  );
  assert.match(
    unplaceable({ gpus: 1, vramMb: 50_000 }, one.devices) ?? "",
    /needs 1 device with about 50000 MiB/,
  );
  assert.deepEqual(place({ gpus: 1, vramMb: 1e9 }, [CPU_DEVICE]), [CPU_DEVICE]);
});

Deno.test("estimateRunS() is steps × tokens × FLOPs per token over the device's peak, none without max_steps", () => {
  const cuda = {
    kind: "cuda",
    index: 0,
    uuid: "GPU-0",
    name: "H100",
    memoryTotalMb: 81_559,
    memoryUsedMb: 0,
    utilization: 0,
  } as const;
  const task = (hp: Record<string, unknown>, gpus = 1) =>
    textTask("t", 1, { gpus, training: { base_model: "org/Model-7B", hyperparameters: hp } });
  // 1000 steps × 2 × 1024 tokens × 4 × 7e9 FLOPs ÷ 1e15 FLOP/s
  assert.equal(estimateRunS(task({ max_steps: 1_000, batch_size: 2 }), [cuda]), 57.344);
  assert.equal(estimateRunS(task({ max_steps: 1_000, batch_size: 2 }, 2), [cuda, cuda]), 28.672);
  assert.equal(estimateRunS(task({ max_steps: 1_000, batch_size: 2 }), [CPU_DEVICE]), 28_672);
  assert.ok(estimateRunS(task({ max_steps: 10, gradient_checkpointing: true }), [cuda])! > 0.28);
  assert.equal(estimateRunS(task({ max_steps: null, epochs: 3 }), [cuda]), null);
});

Deno.test("downloadEstimateS() is 0 when cached or local, bytes left over the rate while downloading", () => {
  const entry = (over: Partial<CachedModel>): CachedModel => ({
    model: "org/m",
    state: "downloading",
    doneBytes: 0,
    totalBytes: null,
    bytesPerS: null,
    lastUsedMs: null,
    message: null,
    ...over,
  });
  assert.equal(downloadEstimateS("/models/tiny", undefined), 0);
  assert.equal(downloadEstimateS("org/m", entry({ state: "cached" })), 0);
  assert.equal(downloadEstimateS("org/m", entry({ totalBytes: 10e9, doneBytes: 4e9, bytesPerS: 100e6 })), 60);
  // Size unknown yet: 2 bytes per parameter the name gives, at the assumed 50 MB/s.
  assert.equal(downloadEstimateS("org/Llama-3.1-8B", undefined), 320);
  assert.equal(downloadEstimateS("org/m", entry({ state: "evicted", totalBytes: 5e9, doneBytes: 0 })), 100);
});

const rayCard = (host: string, index: number, memoryTotalMb = 81_920) => ({
  kind: "cuda" as const,
  index,
  uuid: `${host}:${index}`,
  name: `GPU ${index} on ${host}`,
  memoryTotalMb,
  memoryUsedMb: 0,
  utilization: 0,
  host,
});

Deno.test("place() takes the cards of one run from one host, never across machines", () => {
  const idle = [rayCard("10.0.0.1", 0), rayCard("10.0.0.2", 0)];
  assert.equal(place({ gpus: 2, vramMb: 1_000 }, idle), null);
  const three = [...idle, rayCard("10.0.0.2", 1)];
  assert.deepEqual(place({ gpus: 2, vramMb: 1_000 }, three)?.map(deviceKey), [
    "10.0.0.2/cuda:0",
    "10.0.0.2/cuda:1",
  ]);
});

Deno.test("place() puts a one-card run on the host with the fewest free cards, leaving whole hosts free", () => {
  const idle = [rayCard("10.0.0.1", 0), rayCard("10.0.0.1", 1), rayCard("10.0.0.2", 1)];
  assert.deepEqual(place({ gpus: 1, vramMb: 1_000 }, idle)?.map(deviceKey), ["10.0.0.2/cuda:1"]);
});

Deno.test("unplaceable() counts cards per host: two one-card hosts cannot take a two-card task", () => {
  const all = [rayCard("10.0.0.1", 0), rayCard("10.0.0.2", 0)];
  assert.match(unplaceable({ gpus: 2, vramMb: 1_000 }, all) ?? "", /2 devices on one machine.*has 1 such/);
  assert.equal(unplaceable({ gpus: 1, vramMb: 1_000 }, all), null);
  assert.match(unplaceable({ gpus: 1, vramMb: 1_000 }, []) ?? "", /has 0 such \(no devices\)/);
});
