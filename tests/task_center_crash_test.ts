import assert from "node:assert/strict";
import { TaskCenterServer } from "../local/task_center_server.ts";
import { testSigner } from "./task_center_fixtures.ts";
import { waitFor } from "./helpers.ts";

const ENTRY = new URL("./task_center_crash_entry.ts", import.meta.url).pathname;

function miner(mode: "submit" | "drain", dir: string, url: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-kv", ENTRY, mode, `${dir}/miner.kv`, `${dir}/data`, url, "t-crash"],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

/** Resolves with the first stdout line equal to `want`. */
async function line(child: Deno.ChildProcess, want: string): Promise<void> {
  const decoder = new TextDecoderStream();
  let text = "";
  for await (const chunk of child.stdout.pipeThrough(decoder)) {
    text += chunk;
    if (text.split("\n").includes(want)) return;
  }
  throw new Error(`Miner exited before printing "${want}" (printed ${JSON.stringify(text)})`);
}

async function harness() {
  const signer = await testSigner("//Alice");
  const server = await TaskCenterServer.start({ knownHotkeys: [signer.hotkey.ss58] });
  server.preValidate("t-crash", signer.hotkey.ss58);
  const dir = await Deno.makeTempDir({ prefix: "task_center_crash_" });
  return {
    server,
    dir,
    async [Symbol.asyncDispose]() {
      await server.down();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function killAndDrain(h: Awaited<ReturnType<typeof harness>>, first: Deno.ChildProcess) {
  first.kill("SIGKILL");
  assert.equal((await first.status).signal, "SIGKILL");
  h.server.faults.length = 0;
  if (!(await fetch(h.server.url).then((r) => (r.body?.cancel(), true), () => false))) await h.server.up();
  const second = miner("drain", h.dir, h.server.url);
  await line(second, "done");
  assert.equal((await second.status).code, 0);
}

Deno.test("TaskCenterActor delivers exactly once after SIGKILL while the task center was down", async () => {
  await using h = await harness();
  await h.server.down();
  const first = miner("submit", h.dir, h.server.url);
  await line(first, "queued");
  await killAndDrain(h, first);
  assert.equal(h.server.recordedFor("t-crash"), 1);
});

Deno.test("TaskCenterActor delivers exactly once after SIGKILL between recording and acknowledgement", async () => {
  await using h = await harness();
  // Every answer is lost after the result is recorded, so the first process never sees an ack.
  h.server.faults.push({ route: "result", status: 503, times: 1_000, afterHandling: true });
  const first = miner("submit", h.dir, h.server.url);
  await line(first, "queued");
  await waitFor(() => h.server.requestsTo("/result") >= 2, { timeoutMs: 10_000, what: "a resend" });
  await killAndDrain(h, first);
  assert.equal(h.server.recordedFor("t-crash"), 1);
  assert.ok(h.server.requestsTo("/result") >= 3);
});
