import assert from "node:assert/strict";
import { fakeMiner, viewOf } from "../../tests/status_fixtures.ts";
import { axonRoute } from "./telemetry.ts";

type Series = { name: string; labels: Record<string, string>; value: number };

function parseExposition(text: string): { types: Map<string, string>; series: Series[] } {
  const types = new Map<string, string>();
  const series: Series[] = [];
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1], type[2]);
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels = Object.fromEntries(
      [...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]),
    );
    series.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return { types, series };
}

async function renderBusyMiner() {
  const miner = fakeMiner({ queued: 100, running: 3, done: 6, gpus: 8 });
  miner.telemetry.onAxonReply("/TrainingTask", 200, 0.004);
  miner.telemetry.onAxonReply("/v1/tasks/t-9/cancel", 404, 0.001);
  miner.telemetry.onRefusal("queue_full");
  miner.telemetry.onUploadRetry();
  miner.telemetry.onTaskCenterRetry("result");
  return { miner, text: await miner.telemetry.render(viewOf(miner)) };
}

Deno.test("Telemetry.render() names every metric satori_*, _total on counters only, base units", async () => {
  const { text } = await renderBusyMiner();
  const { types } = parseExposition(text);
  assert.ok(types.size >= 30, `${types.size} metrics`);
  for (const [name, type] of types) {
    assert.match(name, /^satori_[a-z0-9_]+$/, name);
    assert.equal(name.endsWith("_total"), type === "counter", `${name} is a ${type}`);
    assert.doesNotMatch(name, /_(ms|milliseconds|mb|mib|kb|percent)($|_)/, `${name}: base units only`);
  }
  assert.equal(types.get("satori_axon_request_duration_seconds"), "histogram");
});

Deno.test("Telemetry.render() labels only running tasks' gauges with task ids; every other label is bounded", async () => {
  const { miner, text } = await renderBusyMiner();
  const { series } = parseExposition(text);
  const running = new Set(miner.queue.running.map((r) => r.taskId));
  for (const s of series) {
    if ("task_id" in s.labels) {
      assert.match(s.name, /^satori_task_/, s.name);
      assert.ok(running.has(s.labels.task_id), `${s.name} of a task that does not run`);
    }
  }
  const value = (name: string, labels: Record<string, string> = {}) =>
    series.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
  assert.equal(value("satori_tasks", { state: "queued" }), 100);
  assert.equal(value("satori_tasks", { state: "training" }), 3);
  assert.equal(value("satori_queue_length"), 100);
  assert.equal(value("satori_task_step", { task_id: "r-0" }), 120);
  assert.equal(value("satori_task_total_steps", { task_id: "r-0" }), 1_000);
  assert.equal(value("satori_gpu_utilization_ratio", { gpu: "cuda:7" }), 0.93);
  assert.equal(value("satori_axon_requests_total", { route: "/v1/tasks/{id}/cancel", status: "404" }), 1);
  assert.equal(value("satori_refusals_total", { reason: "queue_full" }), 1);
  assert.equal(value("satori_chain_blocks_since_sync"), 10);
  assert.equal(value("satori_stake_tao"), 12.5);
  assert.equal(value("satori_uid"), 7);

  // A run that ends leaves the exposition at the next render.
  miner.queue.running = miner.queue.running.slice(1);
  const after = parseExposition(await miner.telemetry.render(viewOf(miner))).series;
  assert.ok(!after.some((s) => s.labels.task_id === "r-0"));
});

Deno.test("promtool check metrics passes on the exposition of a miner with 100 queued tasks and 8 GPUs", async () => {
  const { text } = await renderBusyMiner();
  const child = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  const said = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, said);
  assert.equal(said.trim(), "", "promtool's linter has nothing to say");
});

Deno.test("axonRoute() never turns a path a validator chose into a label", () => {
  const synapses = new Set(["TrainingTask", "TaskStatus"]);
  const cases: [string, string][] = [
    ["/TrainingTask", "TrainingTask"],
    ["/Anything-" + crypto.randomUUID(), "other"],
    ["/v1/tasks", "/v1/tasks"],
    ["/v1/tasks/" + crypto.randomUUID(), "/v1/tasks/{id}"],
    ["/v1/tasks/abc/cancel", "/v1/tasks/{id}/cancel"],
    ["/v1/tasks/a/b/c", "/v1/other"],
    ["/v1/capacity?x=1", "/v1/capacity"],
    ["/", "other"],
  ];
  for (const [path, route] of cases) assert.equal(axonRoute(path, synapses), route, path);
});

Deno.test("ops/grafana/satori-miner.json queries parse as PromQL and name only metrics the miner exposes", async () => {
  const { text } = await renderBusyMiner();
  const exposed = parseExposition(text).types;
  const dashboard = JSON.parse(
    await Deno.readTextFile(new URL("../../ops/grafana/satori-miner.json", import.meta.url)),
  );
  const exprs: string[] = dashboard.panels.flatMap((p: { targets?: { expr: string }[] }) =>
    (p.targets ?? []).map((t) => t.expr)
  );
  assert.ok(exprs.length > 20);
  for (const expr of exprs) {
    for (const [name] of expr.matchAll(/satori_[a-z0-9_]+/g)) {
      const base = name.replace(/_(bucket|sum|count)$/, "");
      assert.ok(exposed.has(name) || exposed.has(base), `${name} in "${expr}" is not exposed`);
    }
  }
  // promtool parses every query as a recording rule's expression ($job as Grafana would expand it).
  const rules = {
    groups: [{
      name: "grafana",
      rules: exprs.map((expr, i) => ({ record: `grafana:q${i}`, expr: expr.replaceAll("$job", ".*") })),
    }],
  };
  const file = await Deno.makeTempFile({ suffix: ".yml" });
  await Deno.writeTextFile(file, JSON.stringify(rules)); // JSON is YAML
  const out = await new Deno.Command("promtool", {
    args: ["check", "rules", file],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  await Deno.remove(file);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr));
});
