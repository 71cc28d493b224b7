/**
 * `main.ts status` (core/status.ts): the running miner's picture from its status server, with
 * progress bars, ETA and loss; the store's when no miner runs or its server is silent, saying so.
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { type MinerConfig, parseConfig } from "../core/config.ts";
import { storePath } from "../core/paths.ts";
import { claimPidFile, minerStatus } from "../core/status.ts";
import { Store } from "../core/store.ts";
import { transition } from "../core/task.ts";
import { statusAddress } from "../actors/protocol.ts";
import { freePort } from "../local/chain_harness.ts";
import { textTask } from "./fixtures.ts";
import { fakeMiner, startFakeStatus } from "./status_fixtures.ts";

const TOKEN = "cli-test-status-token-0123456789";

function config(dataDir: string, port: number, token: string | null = TOKEN): MinerConfig {
  return parseConfig(stringify({ miner: { data_dir: dataDir }, status: { port, token } }), "test.yml", {});
}

Deno.test("minerStatus() prints the running miner's tasks with progress bars, ETA and loss, its GPUs and queue", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "status-cli-" });
  const miner = fakeMiner({ queued: 2, running: 1, done: 2, gpus: 2 });
  await using status = startFakeStatus(miner, { token: TOKEN });
  const cfg = config(dataDir, (await statusAddress(status))!.port);
  await using _pid = await claimPidFile(cfg); // this process plays the running miner
  const text = await minerStatus(cfg);
  console.log(text);
  assert.match(
    text,
    new RegExp(`^satori-miner is running \\(pid ${Deno.pid}, .*live from http://127\\.0\\.0\\.1:`),
  );
  assert.match(
    text,
    /r-0 {2}\[█{2,}░+\] {2}12% {2}120\/1000 steps {2}\d+\.\d step\/s {2}ETA 14 min 40 s {2}loss 0\.8824/,
  );
  assert.match(text, /tasks {4}queued 2 · training 1 · done 1 · failed 1/);
  assert.match(text, /queue {4}2 of 100 accepted · 2 ready/);
  assert.match(text, /1\. q-0 {2}text · tiny-llama/);
  assert.match(text, /cuda:0 {2}NVIDIA H100 80GB HBM3 .*training r-0/);
  assert.match(text, /failed {3}d-1 .*upload_rejected/);

  const json = JSON.parse(await minerStatus(cfg, { json: true }));
  assert.equal(json.source, "status_server");
  assert.equal(json.view.running[0].id, "r-0");
  assert.equal(json.view.running[0].total, 1_000);
  await Deno.remove(dataDir, { recursive: true });
});

Deno.test("minerStatus() falls back to the store when no miner runs, and says so", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "status-cli-" });
  {
    await using store = await Store.open(storePath(dataDir));
    await store.createTask(transition(textTask("gone"), { type: "reject", reason: "queue_full" }, 2_000));
    let t = textTask("cut-short");
    for (const type of ["submitDataset", "datasetValidated", "enqueue", "startTraining"] as const) {
      t = transition(t, { type }, 2_000);
    }
    await store.createTask({ ...t, progress: { step: 3, total: 4, loss: 0.5 } });
  }
  const cfg = config(dataDir, freePort());
  const text = await minerStatus(cfg);
  console.log(text);
  assert.match(text, /^satori-miner is not running \(data dir ".*"\): tasks as the store holds them$/m);
  assert.match(text, /tasks {4}training 1 · rejected 1/);
  assert.match(text, /cut-short {2}training {2}\[█+░+\] 3\/4 steps {2}loss 0\.5000/);
  const json = JSON.parse(await minerStatus(cfg, { json: true }));
  assert.deepEqual([json.source, json.running, json.tasks], ["store", false, { rejected: 1, training: 1 }]);
  await Deno.remove(dataDir, { recursive: true });
});

Deno.test("minerStatus() says when a running miner's status server does not answer, then reads the store", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "status-cli-" });
  const cfg = config(dataDir, freePort());
  await using _pid = await claimPidFile(cfg);
  const text = await minerStatus(cfg);
  assert.match(
    text,
    /is running \(pid \d+, .*\) but its status server at http:\/\/127\.0\.0\.1:\d+\/ did not answer/,
  );
  assert.match(text, /no tasks yet/);
  await Deno.remove(dataDir, { recursive: true });
});

Deno.test("minerStatus() names status.token when the server refuses the one configured", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "status-cli-" });
  const miner = fakeMiner();
  await using status = startFakeStatus(miner, { token: TOKEN });
  const cfg = config(dataDir, (await statusAddress(status))!.port, "not-the-right-token-at-all");
  await using _pid = await claimPidFile(cfg);
  assert.match(await minerStatus(cfg), /did not answer \(HTTP 401: check status\.token\)/);
  await Deno.remove(dataDir, { recursive: true });
});
