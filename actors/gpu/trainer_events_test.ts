import assert from "node:assert/strict";
import { EventDecoder, LineTail, outcomeOf, type RunEnd } from "./trainer_events.ts";

const enc = new TextEncoder();
const progress = {
  type: "progress",
  time: 1,
  step: 1,
  total: 4,
  loss: 2.5,
  lr: 1e-4,
  samples_per_s: 3,
  tokens_per_s: null,
  eta_s: 3,
  gpu_mem_mb: null,
};
const quality = {
  passed: true,
  metric: "eval_loss",
  base: 3,
  adapter: 2,
  threshold: 2.97,
  detail: "ok",
  samples: [],
};
const done = {
  type: "done",
  time: 2,
  artifacts: [{ path: "adapter_model.safetensors", sha256: "a".repeat(64), bytes: 10 }],
  metrics: { eval_loss: 2 },
  quality,
};

Deno.test("EventDecoder.push() joins lines split across chunks, including a split UTF-8 character", () => {
  const d = new EventDecoder();
  const bytes = enc.encode(
    JSON.stringify({ type: "error", time: 1, code: "dataset_invalid", message: "bad é" }) + "\n",
  );
  const cut = bytes.indexOf(0xc3) + 1; // inside the two-byte "é"
  assert.deepEqual(d.push(bytes.slice(0, cut)), []);
  const [decoded] = d.push(bytes.slice(cut));
  assert.ok(decoded.ok && decoded.event.type === "error" && decoded.event.message === "bad é");
});

Deno.test("EventDecoder reports a non-JSON or off-schema line with its number and keeps going", () => {
  const d = new EventDecoder();
  const out = d.push(
    enc.encode(
      `hello from a library\n${JSON.stringify({ ...progress, step: 0 })}\n${JSON.stringify(progress)}\n`,
    ),
  );
  assert.equal(out.length, 3);
  assert.ok(!out[0].ok && out[0].line === 1 && /not JSON: "hello from a library"/.test(out[0].problem));
  assert.ok(!out[1].ok && out[1].line === 2 && /step/.test(out[1].problem));
  assert.ok(out[2].ok);
  assert.equal(d.end().length, 0);
});

Deno.test("EventDecoder.end() decodes a last line that has no newline", () => {
  const d = new EventDecoder();
  assert.deepEqual(d.push(enc.encode(JSON.stringify(done))), []);
  const [last] = d.end();
  assert.ok(last.ok && last.event.type === "done");
});

const base: RunEnd = {
  done: null,
  error: null,
  status: { code: 0, signal: null },
  stderrTail: [],
  timedOut: false,
  cancelled: false,
};

Deno.test("outcomeOf() is success only with done and exit 0", () => {
  assert.equal(outcomeOf({ ...base, done: done as never }).ok, true);
  const crashedAfterDone = outcomeOf({ ...base, done: done as never, status: { code: 1, signal: null } });
  assert.deepEqual(crashedAfterDone, {
    ok: false,
    code: "crashed",
    message: "Trainer exited with code 1 after reporting done",
  });
  assert.deepEqual(outcomeOf(base), {
    ok: false,
    code: "crashed",
    message: "Trainer exited with code 0 without a result",
  });
});

Deno.test("outcomeOf() keeps the trainer's error code, time-outs and the stderr tail", () => {
  assert.deepEqual(
    outcomeOf({
      ...base,
      error: { code: "oom", message: "CUDA out of memory" },
      status: { code: 1, signal: null },
    }),
    {
      ok: false,
      code: "oom",
      message: "CUDA out of memory",
    },
  );
  const killed = outcomeOf({
    ...base,
    status: { code: 137, signal: "SIGKILL" },
    stderrTail: ["Traceback", "Killed"],
  });
  assert.ok(!killed.ok && killed.code === "crashed");
  assert.equal(
    killed.message,
    "Trainer was killed by SIGKILL without a result; last stderr lines: Traceback | Killed",
  );
  assert.equal(outcomeOf({ ...base, timedOut: true, status: { code: 143, signal: "SIGTERM" } }).ok, false);
  const cancelled = outcomeOf({ ...base, cancelled: true, status: { code: 143, signal: "SIGTERM" } });
  assert.ok(!cancelled.ok && cancelled.code === "cancelled");
});

Deno.test("LineTail keeps only the last lines, including an unterminated one", () => {
  const t = new LineTail(2);
  assert.deepEqual(t.push(enc.encode("a\nb\nc\npart")), ["a", "b", "c"]);
  assert.deepEqual(t.last, ["c", "part"]);
});
