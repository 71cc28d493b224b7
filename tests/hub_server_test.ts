/**
 * The local Hub driven by the real `@huggingface/hub` client over a socket: if these pass, the server
 * speaks the wire protocol the client uses (inline, LFS basic, LFS multipart, download back).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  createRepo,
  downloadFile,
  HubApiError,
  listCommits,
  type ListFileEntry,
  listFiles,
  repoExists,
  uploadFiles,
  whoAmI,
} from "@huggingface/hub";
import { gitBlobOid, startHubServer } from "../local/hub_server.ts";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) % 251);

Deno.test("LocalHub answers whoAmI for a known token and 401 for an unknown one", async () => {
  await using srv = await startHubServer({ user: "alice", orgs: ["lab"] });
  const who = await whoAmI({ accessToken: srv.hub.token, hubUrl: srv.url });
  assert.equal(who.type, "user");
  assert.equal(who.name, "alice");
  assert.equal(who.auth.accessToken?.role, "write");
  assert.ok(who.auth.accessToken?.createdAt instanceof Date);
  const err = await whoAmI({ accessToken: "hf_wrongwrongwrongwrongwrong", hubUrl: srv.url }).catch((e) => e);
  assert.ok(err instanceof HubApiError);
  assert.equal(err.statusCode, 401);
  assert.match(err.message, /Invalid credentials/);
  assert.match(err.requestId ?? "", /^req-\d+$/);
});

Deno.test("LocalHub creates a repo once and answers 409 for a duplicate", async () => {
  await using srv = await startHubServer();
  const params = {
    repo: "miner/r1",
    accessToken: srv.hub.token,
    hubUrl: srv.url,
    visibility: "private" as const,
  };
  assert.equal(await repoExists({ repo: "miner/r1", hubUrl: srv.url, accessToken: srv.hub.token }), false);
  const created = await createRepo(params);
  assert.equal(created.repoUrl, `${srv.url}/miner/r1`);
  assert.ok(created.id);
  const dup = await createRepo(params).catch((e) => e);
  assert.equal(dup.statusCode, 409);
  assert.equal(await repoExists({ repo: "miner/r1", hubUrl: srv.url, accessToken: srv.hub.token }), true);
  // Private: invisible without a token.
  assert.equal(await repoExists({ repo: "miner/r1", hubUrl: srv.url }), false);
  const other = await createRepo({ ...params, repo: "someone/r1" }).catch((e) => e);
  assert.equal(other.statusCode, 403);
});

Deno.test("LocalHub takes inline, LFS basic and LFS multipart files in one commit and serves them back", async () => {
  await using srv = await startHubServer({ multipartThreshold: 200_000, chunkSize: 64 * 1024 });
  const { hub, url: hubUrl } = srv;
  const auth = { accessToken: hub.token, hubUrl };
  await createRepo({ repo: "miner/r", ...auth });
  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
  const files = {
    "config.json": new TextEncoder().encode('{"r": 8}\n'),
    "empty.txt": new Uint8Array(),
    "adapter.safetensors": bytes(50_000),
    "big.safetensors": bytes(300_000, 7),
    "samples/a.png": png,
  };
  const out = await uploadFiles({
    repo: "miner/r",
    ...auth,
    useXet: false,
    commitTitle: "Add files",
    files: Object.entries(files).map(([path, b]) => ({ path, content: new Blob([b]) })),
  });
  assert.match(out!.commit.oid, /^[0-9a-f]{40}$/);
  assert.equal(hub.count("lfsPut"), 2); // adapter + png (binary sample)
  assert.equal(hub.count("lfsPart"), Math.ceil(300_000 / 65_536));
  assert.equal(hub.count("lfsComplete"), 1);
  assert.ok(
    hub.requests.filter((r) => r.route.startsWith("lfs")).every((r) => !r.auth),
    "no token on LFS URLs",
  );

  const entries = new Map<string, ListFileEntry>();
  for await (const e of listFiles({ repo: "miner/r", recursive: true, ...auth })) entries.set(e.path, e);
  for (const [path, b] of Object.entries(files)) {
    const e = entries.get(path)!;
    assert.equal(e.size, b.length, path);
    if (e.lfs) assert.equal(e.lfs.oid, sha256(b), path);
    else assert.equal(e.oid, gitBlobOid(b), path);
    const blob = await downloadFile({ repo: "miner/r", path, ...auth });
    assert.deepEqual(new Uint8Array(await blob!.arrayBuffer()), b, path);
  }
  assert.equal(entries.get("config.json")!.lfs, undefined);
  assert.ok(entries.get("big.safetensors")!.lfs);
  assert.match(
    await (await downloadFile({ repo: "miner/r", path: ".gitattributes", ...auth }))!.text(),
    /a\.png/,
  );
  assert.equal(await downloadFile({ repo: "miner/r", path: "missing", ...auth }), null);

  const commits = [];
  for await (const c of listCommits({ repo: "miner/r", batchSize: 1, ...auth })) commits.push(c);
  assert.deepEqual(commits.map((c) => c.title), ["Add files", "initial commit"]);
  assert.equal(commits[0].oid, out!.commit.oid);

  // A second upload of the same objects skips every LFS PUT: the batch says they are stored.
  const puts = hub.count("lfsPut") + hub.count("lfsPart");
  const again = Object.entries(files).map(([path, b]) => ({ path: `copy/${path}`, content: new Blob([b]) }));
  await uploadFiles({ repo: "miner/r", ...auth, useXet: false, files: again });
  assert.equal(hub.count("lfsPut") + hub.count("lfsPart"), puts);
});

Deno.test("LocalHub answers injected faults once, with Retry-After, and can apply before failing", async () => {
  await using srv = await startHubServer();
  const auth = { accessToken: srv.hub.token, hubUrl: srv.url };
  await createRepo({ repo: "miner/r", ...auth });
  srv.hub.fail("commit", { status: 429, retryAfterS: 7, message: "slow down" });
  srv.hub.fail("commit", { status: 500, afterApply: true });
  const file = [{ path: "a.txt", content: new Blob(["a"]) }];
  const e1 = await uploadFiles({ repo: "miner/r", ...auth, files: file }).catch((e) => e);
  assert.equal(e1.statusCode, 429);
  assert.match(e1.message, /slow down/);
  const e2 = await uploadFiles({ repo: "miner/r", ...auth, files: file }).catch((e) => e);
  assert.equal(e2.statusCode, 500);
  assert.equal(srv.hub.commits("miner/r").length, 2, "the lost-response commit landed");
  await uploadFiles({ repo: "miner/r", ...auth, files: file });
  assert.equal(srv.hub.commits("miner/r").length, 3);
  const res = await fetch(`${srv.url}/api/whoami-v2`);
  assert.equal(res.status, 401);
  assert.deepEqual(await res.json(), { error: "Invalid credentials in Authorization header" });
  srv.hub.fail("whoami", { status: 503, retryAfterS: 3 });
  const r503 = await fetch(`${srv.url}/api/whoami-v2`, {
    headers: { Authorization: `Bearer ${srv.hub.token}` },
  });
  await r503.body?.cancel();
  assert.equal(r503.headers.get("retry-after"), "3");
});

Deno.test("LocalHub refuses a stale parent commit with 412 and a local-path base_model with 400", async () => {
  await using srv = await startHubServer();
  const auth = { accessToken: srv.hub.token, hubUrl: srv.url };
  await createRepo({ repo: "miner/r", ...auth });
  const first = srv.hub.commits("miner/r")[0].id;
  await uploadFiles({ repo: "miner/r", ...auth, files: [{ path: "a", content: new Blob(["1"]) }] });
  const stale = await uploadFiles({
    repo: "miner/r",
    ...auth,
    parentCommit: first,
    files: [{ path: "a", content: new Blob(["2"]) }],
  }).catch((e) => e);
  assert.equal(stale.statusCode, 412);
  const card = new Blob(["---\nbase_model: /models/tiny\n---\n# x\n"]);
  const bad = await uploadFiles({ repo: "miner/r", ...auth, files: [{ path: "README.md", content: card }] })
    .catch((e) => e);
  assert.equal(bad.statusCode, 400);
  assert.match(bad.message, /Invalid metadata in README.md/);
});
