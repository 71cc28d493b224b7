/**
 * `start` runs doctor's free checks (after loading the wallet) and refuses to start on a ✗ with doctor's
 * own lines: here the axon port is held by another process and the trainer's Python does not exist.
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { makeLocalWallet } from "../local/wallets.ts";

const REPO = new URL("..", import.meta.url).pathname;

Deno.test("main.ts start refuses a held axon port and a missing venv with doctor's lines and exit 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "preflight-" });
  using held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (held.addr as Deno.NetAddr).port;
  await makeLocalWallet(`${dir}/wallets`, "miner");
  const config = `${dir}/config.yml`;
  await Deno.writeTextFile(
    config,
    stringify({
      wallet: { name: "miner", path: `${dir}/wallets` },
      miner: { data_dir: `${dir}/data` },
      training: { python: `${dir}/nowhere/bin/python`, cache_dir: `${dir}/hf` },
      logging: { file: `${dir}/data/miner.log` },
      axon: { ip: "127.0.0.1", port },
    }),
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO}main.ts`, "start", "-c", config],
    cwd: REPO,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 1, text);
  assert.match(
    text,
    new RegExp(`✗ axon port: cannot bind 127\\.0\\.0\\.1:${port}: .*Address already in use`),
  );
  assert.match(text, /fix: stop what holds it, or set axon.port \/ axon.ip/);
  assert.match(text, /✗ trainer venv: .*nowhere\/bin\/python does not exist/);
  assert.match(text, /`deno task doctor` runs every check/);
  assert.doesNotMatch(text, /^\s+at /m, "an operator's mistake, not a stack trace");
  await Deno.remove(dir, { recursive: true });
});
