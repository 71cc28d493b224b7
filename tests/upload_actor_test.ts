/**
 * The UploadActor end to end against the local Hub over a socket, driven by the real `@huggingface/hub`
 * client: commits, retries, auth failures and re-runs after a crash. Backoff uses tiny injected delays,
 * or a fake clock where the test checks the wait itself; nothing sleeps.
 */
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { downloadSnapshot } from "./hub_download.ts";
import { startUploadActor, type UploadDeps } from "../actors/upload/upload_actor.ts";
import { upload } from "../actors/protocol.ts";
import type { RetryNotice } from "../actors/upload/retry.ts";
import { fakeClock, waitFor } from "./helpers.ts";
import { type HubServer, startHubServer } from "../local/hub_server.ts";
import { imageOutput, textOutput, type TrainedOutput } from "./upload_fixtures.ts";

const FAST = { minMs: 1, maxMs: 2, jitter: 0 };

function deps(srv: HubServer, over: Partial<UploadDeps> = {}): UploadDeps {
  return { hubUrl: srv.url, token: srv.hub.token, username: null, private: true, retry: FAST, ...over };
}

async function downloadBack(
  srv: HubServer,
  repo: string,
  revision: string,
): Promise<Map<string, Uint8Array>> {
  const dest = await Deno.makeTempDir({ prefix: "upload-back-" });
  const params = { hubUrl: srv.url, repo, revision, accessToken: srv.hub.token };
  const paths = await downloadSnapshot(params, dest);
  const out = new Map(
    await Promise.all(paths.map(async (p) => [p, await Deno.readFile(`${dest}/${p}`)] as const)),
  );
  await Deno.remove(dest, { recursive: true });
  return out;
}

function assertSameFiles(got: Map<string, Uint8Array>, out: TrainedOutput): void {
  for (const [path, bytes] of Object.entries(out.files)) assert.deepEqual(got.get(path), bytes, path);
}

Deno.test("upload() commits a text adapter once, inline and LFS, and the files download back unchanged", async () => {
  await using srv = await startHubServer();
  await using actor = startUploadActor(deps(srv));
  await using out = await textOutput("t-1");
  const res = await upload(actor, out);
  assert.ok(res.ok, JSON.stringify(res));
  assert.equal(res.repoId, "miner/satori-text-lora-t-1");
  assert.equal(res.url, `${srv.url}/miner/satori-text-lora-t-1`);
  assert.equal(res.reused, false);
  const commits = srv.hub.commits(res.repoId);
  assert.deepEqual(commits.map((c) => c.id), [res.commitSha, commits[1].id]);
  assert.match(commits[0].title, /task "t-1"/);
  assert.equal(srv.hub.store.repos.get(res.repoId)!.private, true);
  const files = commits[0].files;
  assert.ok(files.get("adapter_model.safetensors")!.lfs, "weights go through LFS");
  assert.equal(files.get("adapter_config.json")!.lfs, undefined, "small JSON goes inline");
  assert.equal(srv.hub.count("commit"), 1);
  assert.ok(srv.hub.requests.filter((r) => r.route === "lfsPut").every((r) => !r.auth));

  const back = await downloadBack(srv, res.repoId, res.commitSha);
  assertSameFiles(back, out);
  const card = new TextDecoder().decode(back.get("README.md"));
  const meta = parseYaml(card.match(/^---\n([\s\S]*?)\n---/)![1]);
  assert.equal(meta.library_name, "peft");
  assert.equal(meta.base_model, "tiny-llama");
  assert.deepEqual(meta.datasets, ["satori/toy"]);
  assert.ok(meta.tags.includes("lora") && meta.tags.includes("text-generation"));
});

Deno.test("upload() sends an image LoRA with multipart LFS and a card whose widget shows the samples", async () => {
  await using srv = await startHubServer({ multipartThreshold: 100_000, chunkSize: 32 * 1024 });
  await using actor = startUploadActor(deps(srv, { private: false }));
  await using out = await imageOutput("i-1");
  const res = await upload(actor, out);
  assert.ok(res.ok, JSON.stringify(res));
  assert.ok(srv.hub.count("lfsPart") >= 10);
  assert.equal(srv.hub.count("lfsComplete"), 2);
  assert.equal(srv.hub.store.repos.get(res.repoId)!.private, false);
  const back = await downloadBack(srv, res.repoId, "main");
  assertSameFiles(back, out);
  const meta = parseYaml(new TextDecoder().decode(back.get("README.md")).split("---\n")[1]);
  assert.equal(meta.library_name, "diffusers");
  assert.deepEqual(meta.widget, [
    { text: "a photo of sks dog", output: { url: "samples/lora_0.png" } },
    { text: "sks dog", output: { url: "samples/lora_1.png" } },
  ]);
});

Deno.test("upload() retries a commit answered 500 twice and commits exactly once", async () => {
  await using srv = await startHubServer();
  const notices: RetryNotice[] = [];
  await using actor = startUploadActor(deps(srv, { onRetry: (n) => notices.push(n) }));
  srv.hub.fail("commit", { status: 500, times: 2 });
  await using out = await textOutput("t-500");
  const res = await upload(actor, out);
  assert.ok(res.ok, JSON.stringify(res));
  assert.equal(srv.hub.count("commit"), 3);
  assert.equal(srv.hub.commits(res.repoId).length, 2, "the creation commit and ours");
  assert.deepEqual(notices.map((n) => n.status), [500, 500]);
});

Deno.test("upload() finds a commit whose 500 answer was lost instead of committing twice", async () => {
  await using srv = await startHubServer();
  await using actor = startUploadActor(deps(srv));
  srv.hub.fail("commit", { status: 502, afterApply: true });
  await using out = await textOutput("t-lost");
  const res = await upload(actor, out);
  assert.ok(res.ok, JSON.stringify(res));
  assert.equal(res.reused, true);
  assert.equal(srv.hub.count("commit"), 1);
  assert.equal(res.commitSha, srv.hub.commits(res.repoId)[0].id);
  assert.equal(srv.hub.commits(res.repoId).length, 2);
});

Deno.test("upload() waits out a 429's Retry-After on the injected clock, then uploads", async () => {
  await using srv = await startHubServer();
  const fake = fakeClock(Date.now());
  const notices: RetryNotice[] = [];
  await using actor = startUploadActor(
    deps(srv, { clock: fake.clock, retry: {}, onRetry: (n) => notices.push(n), random: () => 0.5 }),
  );
  srv.hub.fail("preupload", { status: 429, retryAfterS: 30, message: "rate limited" });
  await using out = await textOutput("t-429");
  const pending = upload(actor, out);
  await waitFor(() => notices.length === 1, { what: "the 429 retry" });
  assert.equal(notices[0].status, 429);
  assert.equal(notices[0].delayMs, 30_000);
  await fake.tick(29_999);
  assert.equal(srv.hub.count("preupload"), 1, "no retry before Retry-After");
  await fake.tick(1);
  const res = await pending;
  assert.ok(res.ok, JSON.stringify(res));
  assert.equal(srv.hub.count("preupload"), 2);
  assert.equal(srv.hub.count("commit"), 1);
});

Deno.test("upload() answers unauthorized on a 401, once, without the token in the message", async () => {
  await using srv = await startHubServer();
  await using actor = startUploadActor(deps(srv));
  await waitFor(() => actor.status === "running");
  srv.hub.fail("create", { status: 401, message: "Invalid credentials in Authorization header" });
  await using out = await textOutput("t-401");
  const res = await upload(actor, out);
  assert.equal(res.ok, false);
  assert.ok(!res.ok && res.reason === "unauthorized");
  assert.match(res.message, /401/);
  assert.match(res.message, /HF_TOKEN/);
  assert.ok(!res.message.includes(srv.hub.token));
  assert.equal(srv.hub.count("create"), 1, "no retry on 401");
});

Deno.test("upload() answers forbidden naming the missing write permission on a 403", async () => {
  await using srv = await startHubServer({ user: "alice" });
  await using actor = startUploadActor(deps(srv, { username: "big-org" }));
  await using out = await textOutput("t-403");
  const res = await upload(actor, out);
  assert.ok(!res.ok && res.reason === "forbidden", JSON.stringify(res));
  assert.match(res.message, /write access to namespace "big-org"/);
  assert.match(res.message, /repo\.write/);
  assert.equal(srv.hub.count("create"), 1);
});

Deno.test("upload() after a restart finds the earlier commit: same sha, no second commit", async () => {
  await using srv = await startHubServer();
  await using out = await textOutput("t-crash");
  const first = startUploadActor(deps(srv));
  const before = await upload(first, out);
  assert.ok(before.ok);
  await first.stop(); // the miner dies after committing, before the result was recorded
  await using second = startUploadActor(deps(srv));
  const after = await upload(second, out);
  assert.ok(after.ok, JSON.stringify(after));
  assert.equal(after.commitSha, before.commitSha);
  assert.equal(after.reused, true);
  assert.equal(srv.hub.count("commit"), 1);
  assert.equal(srv.hub.count("lfsPut"), 1);
  assert.equal(srv.hub.commits(after.repoId).length, 2);
});

Deno.test("upload() replaces an earlier, different upload of the task and drops its stale files", async () => {
  await using srv = await startHubServer();
  await using actor = startUploadActor(deps(srv));
  await using old = await imageOutput("i-again", 20_000);
  const first = await upload(actor, old);
  assert.ok(first.ok);
  await using retrained = await imageOutput("i-again", 30_000);
  retrained.done.quality.samples = ["samples/lora_0.png"];
  retrained.done.artifacts = retrained.done.artifacts.filter((a) => !/samples\/(base_|lora_1)/.test(a.path));
  const second = await upload(actor, retrained);
  assert.ok(second.ok && !second.reused);
  assert.notEqual(second.commitSha, first.commitSha);
  const files = [...srv.hub.commits(second.repoId)[0].files.keys()].sort();
  assert.deepEqual(files, [
    ".gitattributes",
    "README.md",
    "metrics.json",
    "pytorch_lora_weights.safetensors",
    "pytorch_lora_weights_kohya.safetensors",
    "samples/lora_0.png",
    "training_args.json",
  ]);
});

Deno.test("upload() answers unavailable when the Hub stays unreachable through every retry", async () => {
  const srv = await startHubServer();
  const notices: RetryNotice[] = [];
  await using actor = startUploadActor(
    deps(srv, { retry: { ...FAST, attempts: 3 }, onRetry: (n) => notices.push(n) }),
  );
  await waitFor(() => actor.status === "running");
  await srv.close();
  await using out = await textOutput("t-down");
  const res = await upload(actor, out);
  assert.ok(!res.ok && res.reason === "unavailable", JSON.stringify(res));
  assert.match(res.message, /^Cannot create "miner\/satori-text-lora-t-down" after 3 attempts/);
  assert.deepEqual(notices.map((n) => n.status), [null, null]);
});

Deno.test("upload() refuses an artifact that changed since training, before touching the Hub", async () => {
  await using srv = await startHubServer();
  await using actor = startUploadActor(deps(srv));
  await using out = await textOutput("t-changed");
  await Deno.writeTextFile(`${out.outDir}/metrics.json`, "{}\n");
  const res = await upload(actor, out);
  assert.ok(!res.ok && res.reason === "artifact_invalid", JSON.stringify(res));
  assert.match(res.message, /"metrics.json" changed since training/);
  assert.equal(srv.hub.count("create"), 0);
});

Deno.test("startUploadActor() crashes at start on a rejected token, without the token in the error", async () => {
  await using srv = await startHubServer();
  const token = "hf_revokedrevokedrevokedrevoked";
  const actor = startUploadActor(deps(srv, { token }));
  const err = await actor.done.then(() => null, (e) => e);
  assert.equal(err?.name, "HttpStatusError");
  assert.equal(err.status, 401);
  assert.match(err.message, /rejected the token \(401\).*HF_TOKEN/);
  assert.ok(!err.message.includes(token));
  assert.equal(srv.hub.count("whoami"), 1, "a 401 is not retried");
});

Deno.test("startUploadActor() crashes at start when no token is set, saying to set HF_TOKEN", async () => {
  await using srv = await startHubServer();
  const actor = startUploadActor(deps(srv, { token: null, configFile: "miner/config.yml" }));
  const err = await actor.done.then(() => null, (e) => e);
  assert.equal(err?.name, "ConfigError");
  assert.match(err.message, /^miner\/config.yml huggingface.token: no token is set; set HF_TOKEN/);
  assert.equal(srv.hub.requests.length, 0);
});

Deno.test("startUploadActor() crashes at start on a read-only token", async () => {
  await using srv = await startHubServer();
  srv.hub.addToken("hf_readonlyreadonlyreadonly00", { role: "read" });
  const actor = startUploadActor(deps(srv, { token: "hf_readonlyreadonlyreadonly00" }));
  const err = await actor.done.then(() => null, (e) => e);
  assert.equal(err?.name, "ConfigError");
  assert.match(err.message, /read-only/);
});

Deno.test("startUploadActor() retries whoAmI through a 503 at start and then serves uploads", async () => {
  await using srv = await startHubServer();
  srv.hub.fail("whoami", { status: 503, times: 2 });
  await using actor = startUploadActor(deps(srv));
  await using out = await textOutput("t-503");
  const res = await upload(actor, out);
  assert.ok(res.ok, JSON.stringify(res));
  assert.equal(srv.hub.count("whoami"), 3);
});
