import assert from "node:assert/strict";
import { candidateModes, estimateModeMib, MODE_TABLE, type Workload } from "./memory_modes.ts";

type Case = {
  workload: {
    kind: "text" | "image";
    params_b: number;
    tokens: number;
    rank: number;
    precision: Workload["precision"];
    encoders_b: number;
  };
  mib: Record<string, number>;
};
const cases: Case[] = JSON.parse(
  Deno.readTextFileSync(new URL("../trainer/tests/fixtures/mode_cases.json", import.meta.url)),
).cases;

Deno.test("estimateModeMib() reproduces the trainer's worked estimates for every mode (mode_cases.json)", () => {
  assert.ok(cases.length >= 4);
  for (const { workload: w, mib } of cases) {
    const workload: Workload = {
      kind: w.kind,
      paramsB: w.params_b,
      tokens: w.tokens,
      rank: w.rank,
      precision: w.precision,
      encodersB: w.encoders_b,
    };
    const modes = MODE_TABLE.modes.filter((m) => m.kinds.includes(w.kind));
    const keys: string[] = [];
    for (const m of modes) {
      for (const perForward of [1, 2]) {
        const key = `${m.quantization}/${m.checkpointing ? "gc" : "full"}/${perForward}`;
        keys.push(key);
        const ours = estimateModeMib(m, workload, perForward);
        assert.ok(
          Math.abs(ours - mib[key]) <= 0.051,
          `${key} of ${JSON.stringify(w)}: ${ours} vs ${mib[key]}`,
        );
      }
    }
    assert.deepEqual(keys.sort(), Object.keys(mib).sort());
  }
});

Deno.test("candidateModes() keeps the task's asks as floors, exact with as_given, optional packages only when asked", () => {
  const names = (ms: ReturnType<typeof candidateModes>) =>
    ms.map((m) => `${m.quantization}${m.checkpointing ? "+checkpointing" : ""}`);
  assert.deepEqual(names(candidateModes("image", "none", false, false)), [
    "none",
    "none+checkpointing",
    "fp8+checkpointing",
  ]);
  assert.deepEqual(names(candidateModes("image", "none", true, false)), [
    "none+checkpointing",
    "fp8+checkpointing",
  ]);
  assert.deepEqual(names(candidateModes("image", "nf4", false, false)), ["nf4", "nf4+checkpointing"]);
  assert.deepEqual(names(candidateModes("image", "fp8", false, true)), ["fp8"]);
  assert.deepEqual(names(candidateModes("text", "none", false, false)), ["none", "none+checkpointing"]);
  assert.equal(
    MODE_TABLE.measured,
    false,
    "the table holds estimates until bench/gpu_check.py has run on a GPU",
  );
});
