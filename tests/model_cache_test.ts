/**
 * The CacheActor with the real prefetch (trainer/cache.py) against the local Hub: configured models are
 * prefetched at start and published; two tasks naming one model share its single copy; the least
 * recently used model no task needs is evicted under the budget; and a task admitted while its base
 * model downloads has the download counted in its time estimate (the queue refuses one it would make late).
 */
import assert from "node:assert/strict";
import { startCacheActor } from "../actors/cache/cache_actor.ts";
import { cacheSnapshot } from "../actors/protocol.ts";
import { downloadEstimateS } from "../actors/queue/placement.ts";
import { admissionPolicy } from "../actors/queue/policy.ts";
import type { ModelCacheSnapshot } from "../core/model_cache.ts";
import { repoFolder } from "../core/model_cache.ts";
import { Store } from "../core/store.ts";
import { transition } from "../core/task.ts";
import { startHubServer } from "../local/hub_server.ts";
import { startAdmission, T0 } from "./admission_harness.ts";
import { textRequest, textTask } from "./fixtures.ts";
import { waitFor } from "./helpers.ts";
import { fileGets, publishTiny, PYTHON, REPO } from "./model_cache_fixtures.ts";

const [A, B] = ["miner/tiny-a", "miner/tiny-b"];

async function cacheFor(
  server: Awaited<ReturnType<typeof startHubServer>>,
  models: string[],
  budgetBytes: number,
) {
  const dir = await Deno.makeTempDir({ prefix: "cache-actor-" });
  const store = await Store.open();
  let latest: ModelCacheSnapshot | null = null;
  const cache = startCacheActor({
    python: PYTHON,
    trainerRoot: REPO,
    cacheDir: `${dir}/hf`,
    hubUrl: server.url,
    token: server.hub.token,
    budgetBytes,
    models,
    store,
    usageFile: `${dir}/state/model_use.json`,
    publish: (s) => (latest = s),
    tickMs: 200,
    chunkBytes: 16_384, // progress in small steps: the tiny weights are 150 kB
  });
  const state = (m: string) => latest?.models.find((x) => x.model === m)?.state;
  return {
    dir,
    store,
    cache,
    state,
    latest: () => latest,
    [Symbol.asyncDispose]: async () => {
      await cache.stop();
      store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const queuedTask = (id: string, model: string) => {
  let t = textTask(id, 1_000, { training: { base_model: model, hyperparameters: { max_steps: 4 } } });
  for (const type of ["submitDataset", "datasetValidated", "enqueue"] as const) {
    t = transition(t, { type }, 1_000);
  }
  return t;
};

Deno.test({
  name: "startCacheActor() prefetches, shares one copy between two tasks and evicts the least recently used",
  sanitizeResources: false,
  fn: async () => {
    await using server = await startHubServer();
    await publishTiny(server, A);
    await publishTiny(server, B);
    // Room for one tiny model (about 160 kB), not two.
    await using c = await cacheFor(server, [A], 250_000);
    await waitFor(() => c.state(A) === "cached", { timeoutMs: 60_000, what: `${A} cached` });
    assert.deepEqual(fileGets(server, A, "model.safetensors"), [200]);

    // Two tasks name A: it stays cached, fetched once. A task on B fetches B, and A (used least lately,
    // needed by no task once those two end) is evicted to keep under the budget.
    await c.store.createTask(queuedTask("t-1", A));
    await c.store.createTask(queuedTask("t-2", A));
    await c.store.createTask(queuedTask("t-3", B));
    await waitFor(() => c.state(B) === "cached", { timeoutMs: 60_000, what: `${B} cached` });
    assert.equal(c.state(A), "cached", "A is needed by two queued tasks: kept over the budget");
    assert.deepEqual(fileGets(server, A, "model.safetensors"), [200], "one download for both tasks");

    for (const id of ["t-1", "t-2"]) {
      await c.store.updateTask(id, (t) => transition(t, { type: "fail", reason: "cancelled" }, 2_000));
    }
    await waitFor(() => c.state(A) === "evicted", { timeoutMs: 10_000, what: `${A} evicted` });
    await assert.rejects(Deno.stat(repoFolder(`${c.dir}/hf`, A)), Deno.errors.NotFound);
    const snap = await cacheSnapshot(c.cache);
    assert.equal(snap.models.find((m) => m.model === B)?.state, "cached");
    assert.ok(snap.usedBytes <= snap.budgetBytes, `${snap.usedBytes} of ${snap.budgetBytes}`);
  },
});

Deno.test({
  name: "Admission counts a base model's download in the task's time estimate while it downloads",
  sanitizeResources: false,
  fn: async () => {
    await using server = await startHubServer();
    await publishTiny(server, A);
    server.hub.access.bytesPerSecond = 20_000; // about 8 s for the weights
    await using c = await cacheFor(server, [A], 10e9);
    await waitFor(() => (c.latest()?.models.find((m) => m.model === A)?.doneBytes ?? 0) > 40_000, {
      timeoutMs: 30_000,
      what: "a download rate",
    });
    const entry = () => c.latest()!.models.find((m) => m.model === A);
    const left = downloadEstimateS(A, entry());
    assert.ok(left > 1 && left < 60, `about ${left} s left`);

    const policy = {
      ...admissionPolicy({ allowedBaseModels: [A] }),
      downloadS: (m: string) => downloadEstimateS(m, entry()),
    };
    await using adm = await startAdmission({ policy });
    const request = (id: string, deadlineS: number) =>
      textRequest(id, {
        training: { base_model: A, hyperparameters: { max_steps: 4 } },
        deadline_ms: T0 + deadlineS * 1_000,
      });
    const late = await adm.accept(request("t-late", 1), "5Validator", 5_000);
    assert.ok(!late.ok && late.reason === "too_long", JSON.stringify(late));
    assert.match(
      late.message,
      /after its base model's download \(about \d+ s left\), past its deadline in 1 s/,
    );
    const roomy = await adm.accept(request("t-roomy", 3_600), "5Validator", 5_000);
    assert.ok(roomy.ok, JSON.stringify(roomy));

    server.hub.access.bytesPerSecond = null;
    await waitFor(() => entry()?.state === "cached", { timeoutMs: 60_000, what: `${A} cached` });
    assert.equal(downloadEstimateS(A, entry()), 0);
    const now = await adm.accept(request("t-now", 1), "5Validator", 5_000);
    assert.ok(now.ok, `once cached, nothing is added: ${JSON.stringify(now)}`);
  },
});
