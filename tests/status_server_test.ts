/**
 * The StatusActor on a real socket (127.0.0.1), reading a fake miner: the live feed moves as the
 * trainer reports, many readers cost one sample of the actors, an actor that does not answer leaves
 * its part out instead of holding the page, and nvidia-smi (the fake in tests/fakebin) is polled. And
 * the axon's hook feeds the request metrics.
 */
import assert from "node:assert/strict";
import { startAxonActor } from "../actors/axon/axon_actor.ts";
import { axonStats, statusAddress } from "../actors/protocol.ts";
import type { StatusView } from "../core/status_view.ts";
import { FakeMiner, MINER_PHRASE, walletFrom } from "./axon_fixtures.ts";
import { fakeMiner, feedProgress, startFakeStatus, viewOf } from "./status_fixtures.ts";
import { waitFor } from "./helpers.ts";

/** Reads SSE `data:` messages from a response as they come. */
async function* events(res: Response): AsyncGenerator<StatusView> {
  let buffer = "";
  for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = frame.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (data) yield JSON.parse(data);
    }
  }
}

Deno.test("StatusActor pushes a view each second over SSE, moving as the trainer reports", async () => {
  const miner = fakeMiner({ running: 1, gpus: 0 });
  await using status = startFakeStatus(miner);
  const { url } = (await statusAddress(status))!;
  const res = await fetch(`${url}events`);
  assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const feed = events(res);
  const first = (await feed.next()).value as StatusView;
  assert.equal(first.running[0].step, 120);
  feedProgress(miner.telemetry, "r-0", 400, 1_000);
  let later = first;
  while (later.running[0].step === 120) later = (await feed.next()).value as StatusView;
  assert.equal(later.running[0].step, 400);
  assert.ok(later.generated_ms > first.generated_ms);
  assert.ok(later.running[0].loss_points.length > first.running[0].loss_points.length);
  await feed.return(undefined); // closes the stream: the server drops this reader
});

Deno.test("StatusActor answers many readers from one sample of the actors", async () => {
  const miner = fakeMiner();
  let asked = 0;
  const queue = () => (asked++, Promise.resolve(miner.queue));
  await using counted = startFakeStatus(miner, {
    sources: {
      queue,
      chain: () => Promise.resolve(miner.chain),
      self: () => Promise.resolve(miner.self),
      axon: () => Promise.resolve(miner.axon),
      restarts: () => ({}),
      logs: () => [],
    },
  });
  const { url } = (await statusAddress(counted))!;
  const bodies = await Promise.all(
    Array.from(
      { length: 25 },
      (_, i) => fetch(`${url}${i % 2 ? "metrics" : "api/status"}`).then((r) => r.text()),
    ),
  );
  assert.equal(bodies.length, 25);
  assert.equal(asked, 1, "25 readers within a second, one queue snapshot");
});

Deno.test("StatusActor leaves out an actor that does not answer, and the page still comes", async () => {
  const miner = fakeMiner();
  await using status = startFakeStatus(miner, {
    sources: {
      queue: () => new Promise(() => {}), // a queue that never answers (restarting)
      chain: () => Promise.reject(new Error("chain actor is restarting")),
      self: () => Promise.reject(new Error("chain actor is restarting")),
      axon: () => Promise.resolve(miner.axon),
      restarts: () => ({ queue: 2 }),
      logs: () => [],
    },
  });
  const { url } = (await statusAddress(status))!;
  const started = Date.now();
  const view: StatusView = await (await fetch(`${url}api/status`)).json();
  assert.ok(Date.now() - started < 3_000, "bounded by the source timeout");
  assert.deepEqual(view.sources, { queue: false, chain: false, axon: true });
  assert.deepEqual(view.running, []);
  assert.equal(view.tasks.queued, 3, "counts come from the tally, not the queue");
});

Deno.test("StatusActor polls nvidia-smi and shows each card's load and the task on it", async () => {
  const miner = fakeMiner({ running: 1, gpus: 2 });
  await using status = startFakeStatus(miner);
  const { url } = (await statusAddress(status))!;
  let view: StatusView | null = null;
  await waitFor(async () => {
    view = await (await fetch(`${url}api/status`)).json();
    return view!.devices.some((d) => d.utilization !== null);
  }, { timeoutMs: 5_000, intervalMs: 200, what: "a GPU poll" });
  const cards = view!.devices;
  assert.deepEqual(cards.map((d) => d.key), ["cuda:0", "cuda:1"]);
  assert.equal(cards[0].task_id, "r-0");
  assert.ok(cards.every((d) => d.temperature_c !== null && d.memory_total_bytes === 81559 * 1024 ** 2));
});

Deno.test("StatusActor shows a Ray cluster's cards as the cluster changes, each with the task it runs", async () => {
  const miner = fakeMiner({ running: 0, gpus: 0 });
  const card = (host: string) => ({
    kind: "cuda" as const,
    index: 0,
    uuid: `${host}/0`,
    name: `GPU 0 of Ray node ${host}`,
    memoryTotalMb: 81_920,
    memoryUsedMb: 0,
    utilization: 0,
    host,
  });
  let cluster = [card("10.0.0.7")];
  miner.queue = { ...miner.queue, running: [{ taskId: "on-ray", devices: ["10.0.0.7/cuda:0"] }] };
  await using status = startFakeStatus(miner, { devices: () => cluster });
  const { url } = (await statusAddress(status))!;
  // This box's own cards (the fake nvidia-smi lists two) are shown too; the cluster's have a host.
  const onRay = async () =>
    ((await (await fetch(`${url}api/status`)).json()) as StatusView).devices.filter((d) =>
      d.key.includes("/")
    );
  const first = await onRay();
  assert.deepEqual(first.map((d) => [d.key, d.task_id, d.memory_total_bytes]), [
    ["10.0.0.7/cuda:0", "on-ray", 81_920 * 1024 ** 2],
  ]);
  cluster = [card("10.0.0.7"), card("10.0.0.8")]; // a node joined
  await waitFor(async () => (await onRay()).length === 2, {
    timeoutMs: 5_000,
    intervalMs: 200,
    what: "the new node",
  });
});

Deno.test("AxonActor reports every reply to the status metrics, both wire formats, routes bounded", async () => {
  const miner = fakeMiner();
  const fake = new FakeMiner();
  await using axon = startAxonActor({ ip: "127.0.0.1", port: 0, maxBodyBytes: 1 << 16, minStakeTao: 1_000 }, {
    wallet: await walletFrom(MINER_PHRASE),
    lookup: (h) => fake.lookup(h),
    acceptTask: (r, v) => fake.acceptTask(r, v),
    taskStatus: (id) => fake.taskStatus(id),
    capacity: () => fake.capacity(),
    onReply: miner.telemetry.onAxonReply,
  });
  const { port } = (await axonStats(axon)).address;
  const paths = [
    "/TrainingTask",
    "/v1/capacity",
    `/v1/tasks/${crypto.randomUUID()}`,
    `/Evil${crypto.randomUUID()}`,
  ];
  for (const path of paths) {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: "POST", body: "{}" });
    await res.body?.cancel();
  }
  const text = await miner.telemetry.render(viewOf(miner));
  const routes = [...text.matchAll(/^satori_axon_requests_total\{route="([^"]+)",status="(\d+)"\} (\d+)$/gm)];
  assert.deepEqual(routes.map((m) => m[1]).sort(), [
    "/v1/capacity",
    "/v1/tasks/{id}",
    "TrainingTask",
    "other",
  ]);
  assert.ok(
    routes.every((m) => Number(m[2]) >= 400 && m[3] === "1"),
    JSON.stringify(routes.map((m) => m[0])),
  );
  assert.match(text, /^satori_axon_request_duration_seconds_count\{route="TrainingTask"\} 1$/m);
});
