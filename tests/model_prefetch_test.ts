/**
 * `python -m trainer prefetch` (trainer/cache.py, the real `huggingface_hub`) against the local Hub: a
 * tiny model repo downloads once with progress into the Hugging Face cache layout, verified against the
 * Hub's sha256, and loads offline from there with `from_pretrained`; a download killed halfway resumes
 * with a Range request; a corrupted file is refused; a gated repo answers `gated` until access is granted.
 */
import assert from "node:assert/strict";
import { startHubServer } from "../local/hub_server.ts";
import { repoFolder } from "../core/model_cache.ts";
import { fileGets, publishTiny, PYTHON, REPO, sha256Hex, spawnPrefetch } from "./model_cache_fixtures.ts";
import { waitFor } from "./helpers.ts";

const MODEL = "miner/tiny-llama";
const WEIGHTS = "model.safetensors";

Deno.test({
  name: "trainer prefetch downloads a model once with progress, verified, where from_pretrained finds it",
  sanitizeResources: false,
  fn: async () => {
    await using server = await startHubServer();
    const commit = await publishTiny(server, MODEL);
    const cacheDir = await Deno.makeTempDir({ prefix: "prefetch-" });
    const first = await spawnPrefetch(server, cacheDir, [MODEL]).done;
    assert.equal(first.code, 0, first.stderr);
    const kinds = first.events.map((e) => e.event);
    assert.equal(kinds[0], "prefetch_start");
    assert.ok(kinds.includes("prefetch_progress"), kinds.join(","));
    const done = first.events.at(-1)!;
    assert.ok(done.event === "prefetch_done" && done.checked && done.commit === commit);
    const start = first.events[0];
    assert.ok(start.event === "prefetch_start" && start.cached_bytes === 0 && start.total_bytes > 150_000);

    // The HF cache layout: the snapshot links to a blob named by the Hub's sha256, which its bytes hash to.
    const folder = repoFolder(cacheDir, MODEL);
    assert.equal((await Deno.readTextFile(`${folder}/refs/main`)).trim(), commit);
    const link = `${folder}/snapshots/${commit}/${WEIGHTS}`;
    const blob = await Deno.realPath(link);
    assert.equal(blob.split("/").at(-1), await sha256Hex(blob));
    assert.deepEqual(fileGets(server, MODEL, WEIGHTS), [200]);

    // Again: everything is there, nothing is downloaded.
    const second = await spawnPrefetch(server, cacheDir, [MODEL]).done;
    assert.equal(second.code, 0, second.stderr);
    const again = second.events[0];
    assert.ok(again.event === "prefetch_start" && again.cached_bytes === again.total_bytes);
    assert.deepEqual(fileGets(server, MODEL, WEIGHTS), [200]);

    // A trainer pointed at the cache (HF_HUB_CACHE) loads the model offline, by its Hub id.
    const load = await new Deno.Command(PYTHON, {
      args: [
        "-c",
        `from transformers import AutoModelForCausalLM as M; print(M.from_pretrained("${MODEL}").num_parameters())`,
      ],
      cwd: REPO,
      env: { HF_HUB_CACHE: cacheDir, HF_HUB_OFFLINE: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(load.code, 0, new TextDecoder().decode(load.stderr));
    assert.ok(Number(new TextDecoder().decode(load.stdout).trim()) > 1_000);
    await Deno.remove(cacheDir, { recursive: true });
  },
});

Deno.test({
  name: "trainer prefetch resumes a download killed halfway with a Range request",
  sanitizeResources: false,
  fn: async () => {
    await using server = await startHubServer();
    await publishTiny(server, MODEL);
    const cacheDir = await Deno.makeTempDir({ prefix: "prefetch-resume-" });
    server.hub.access.bytesPerSecond = 40_000; // about 4 s for the weights
    const blobs = `${repoFolder(cacheDir, MODEL)}/blobs`;
    const partialSize = async () => {
      for (const e of await Array.fromAsync(Deno.readDir(blobs)).catch(() => [] as Deno.DirEntry[])) {
        if (!e.name.endsWith(".incomplete")) continue;
        // Small files finish (and are renamed) between the listing and the stat: those count as none.
        const size = (await Deno.stat(`${blobs}/${e.name}`).catch(() => ({ size: 0 }))).size;
        if (size > 0) return size;
      }
      return 0;
    };
    const killed = spawnPrefetch(server, cacheDir, [MODEL]);
    await waitFor(async () => (await partialSize()) > 20_000, { timeoutMs: 30_000, what: "half a download" });
    killed.child.kill("SIGKILL");
    const cut = await killed.done;
    assert.notEqual(cut.code, 0);
    const kept = await partialSize();
    assert.ok(kept > 0 && kept < 153_000, `partial ${kept}`);

    server.hub.access.bytesPerSecond = null;
    const resumed = await spawnPrefetch(server, cacheDir, [MODEL]).done;
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual(fileGets(server, MODEL, WEIGHTS), [200, 206], "the second GET asked for the rest only");
    const start = resumed.events[0];
    assert.ok(start.event === "prefetch_start");
    const done = resumed.events.at(-1)!;
    assert.equal(done.event, "prefetch_done");
    const blob = await Deno.realPath(`${repoFolder(cacheDir, MODEL)}/snapshots/${start.commit}/${WEIGHTS}`);
    assert.equal(blob.split("/").at(-1), await sha256Hex(blob), "the joined file has the Hub's sha256");
    assert.equal(await partialSize(), 0);
    await Deno.remove(cacheDir, { recursive: true });
  },
});

Deno.test({
  name: "trainer prefetch refuses bytes that differ from the Hub's sha256 and keeps nothing of them",
  sanitizeResources: false,
  fn: async () => {
    await using server = await startHubServer();
    await publishTiny(server, MODEL);
    server.hub.access.corrupt.add(`${MODEL}/${WEIGHTS}`);
    const cacheDir = await Deno.makeTempDir({ prefix: "prefetch-corrupt-" });
    const run = await spawnPrefetch(server, cacheDir, [MODEL]).done;
    assert.equal(run.code, 1);
    const last = run.events.at(-1)!;
    assert.ok(last.event === "prefetch_error" && last.code === "checksum", JSON.stringify(last));
    assert.match(last.message, /model\.safetensors does not match the Hub's hash [0-9a-f]{64}/);
    assert.deepEqual(fileGets(server, MODEL, WEIGHTS), [200, 200], "fetched once more from the start");
    const blobs = await Array.fromAsync(Deno.readDir(`${repoFolder(cacheDir, MODEL)}/blobs`));
    assert.ok(blobs.every((b) => b.name.length !== 64), "no LFS blob took its final name");
    await Deno.remove(cacheDir, { recursive: true });
  },
});

Deno.test({
  name: "trainer prefetch answers gated until the token's user is granted access",
  sanitizeResources: false,
  fn: async () => {
    await using server = await startHubServer();
    await publishTiny(server, MODEL);
    server.hub.access.gate(MODEL);
    const cacheDir = await Deno.makeTempDir({ prefix: "prefetch-gated-" });
    const refused = await spawnPrefetch(server, cacheDir, [MODEL]).done;
    const last = refused.events.at(-1)!;
    assert.ok(last.event === "prefetch_error" && last.code === "gated", JSON.stringify(last));
    server.hub.access.grant(MODEL, server.hub.user);
    const granted = await spawnPrefetch(server, cacheDir, [MODEL]).done;
    assert.equal(granted.code, 0, granted.stderr);
    await Deno.remove(cacheDir, { recursive: true });
  },
});
