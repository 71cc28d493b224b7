/**
 * `main.ts doctor` as an operator runs it, against the local network (chopsticks on raonet, the local
 * Hub, the task center): every check passes on a miner set up right; then each way an operator goes
 * wrong shows its ✗ and fix — an unregistered hotkey, a wrong axon IP on chain, a clock that is off, an
 * HF token with the read role, a gated base model, no trainer venv, a disk budget too small.
 */
import assert from "node:assert/strict";
import { parse, stringify } from "yaml";
import { SDK_VERSION, wantedAxon } from "../actors/chain/axon_info.ts";
import { submitServeAxon } from "../actors/chain/chain_client.ts";
import { connectApi } from "../local/chain_harness.ts";
import { HF_USER, NETUID, startLocalNetwork } from "../local/local_network.ts";
import { makeLocalWallet } from "../local/wallets.ts";
import { publishTiny, REPO } from "./model_cache_fixtures.ts";

const TEXT = `${HF_USER}/tiny-text`;
const IMAGE = `${HF_USER}/tiny-image`;
const dec = new TextDecoder();

async function doctor(configFile: string, token: string): Promise<{ code: number; out: string }> {
  const res = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO}main.ts`, "doctor", "-c", configFile],
    cwd: REPO,
    env: { HF_TOKEN: token, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(180_000),
  }).output();
  return { code: res.code, out: dec.decode(res.stdout) + dec.decode(res.stderr) };
}

/** Builds a block stamped `offsetMs` from the local clock now (chopsticks stamps parent + one slot). */
async function stampChain(
  chain: { rpc(m: string, p?: unknown[]): Promise<unknown>; newBlocks(n?: number): Promise<void> },
  offsetMs: number,
) {
  const probe = 1_700_000_000_000;
  await chain.rpc("dev_timeTravel", [probe]);
  await chain.newBlocks(1);
  const api = await connectApi((chain as unknown as { endpoint: string }).endpoint);
  try {
    const slotMs = Number((await api.query.timestamp.now()).toString()) - probe;
    await chain.rpc("dev_timeTravel", [Date.now() + offsetMs - slotMs]);
    await chain.newBlocks(1);
  } finally {
    await api.disconnect();
  }
}

const line = (out: string, name: string) =>
  out.split("\n").find((l) => l.startsWith(`✓ ${name}:`) || l.startsWith(`✗ ${name}:`));
const fixOf = (out: string, name: string) => {
  const lines = out.split("\n");
  const at = lines.findIndex((l) => l.startsWith(`✗ ${name}:`));
  return at < 0 ? undefined : lines[at + 1];
};

Deno.test({
  name: "doctor passes every check on the local network and names the fix of each failure",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const runDir = await Deno.makeTempDir({ prefix: "satori-doctor-" });
    await using net = await startLocalNetwork(runDir);
    await publishTiny(net.hub, TEXT);
    await publishTiny(net.hub, IMAGE);
    const base = parse(await Deno.readTextFile(net.configFile));
    const write = async (name: string, change: (c: Record<string, Record<string, unknown>>) => void) => {
      const cfg = structuredClone(base);
      cfg.training = {
        ...cfg.training,
        text: { base_model: TEXT },
        image: { base_model: IMAGE },
        cache_dir: `${runDir}/hf`,
      };
      change(cfg);
      const file = `${runDir}/${name}.yml`;
      await Deno.writeTextFile(file, stringify(cfg));
      return file;
    };

    // All green: the chain's clock is ours, nothing is served yet, the Hub has both base models.
    await stampChain(net.chain, 0);
    const green = await doctor(await write("green", () => {}), net.hfToken);
    console.log(`--- doctor, all green ---\n${green.out}`);
    assert.equal(green.code, 0, green.out);
    for (
      const name of [
        "config",
        "wallet",
        "chain",
        "registration",
        "axon on chain",
        "clock",
        "axon port",
        "task center",
        "HF token",
        "HF write access",
        `base model ${TEXT}`,
        `base model ${IMAGE}`,
        "trainer venv",
        "GPUs",
        "disk",
      ]
    ) {
      assert.match(line(green.out, name) ?? "", /^✓ /, `${name} in:\n${green.out}`);
    }
    assert.match(green.out, /ready to mine/);

    // Many wrongs at once: a stranger's hotkey, a read-only token, a gated model, no venv, a tiny budget,
    // and a chain whose latest block is stamped 10 s in our future.
    await makeLocalWallet(`${runDir}/wallets`, "stranger");
    const readOnly = `hf_read${crypto.randomUUID().replaceAll("-", "")}`;
    net.hub.hub.addToken(readOnly, { user: HF_USER, role: "read" });
    net.hub.hub.access.gate(IMAGE);
    await stampChain(net.chain, 10_000);
    const bad = await doctor(
      await write("bad", (c) => {
        c.wallet = { ...c.wallet, name: "stranger" };
        c.training = { ...c.training, python: `${runDir}/no-venv/bin/python`, cache_max_gb: 0.0001 };
      }),
      readOnly,
    );
    console.log(`--- doctor, failures ---\n${bad.out}`);
    assert.equal(bad.code, 1, bad.out);
    assert.match(line(bad.out, "registration")!, /✗ registration: hotkey \w+ is not registered on netuid 1/);
    assert.match(
      fixOf(bad.out, "registration")!,
      /fix: btcli subnet register --netuid 1 --wallet.name stranger/,
    );
    assert.match(line(bad.out, "clock")!, /✗ clock: local clock is at least [2-9]\.\d s behind the chain/);
    assert.match(fixOf(bad.out, "clock")!, /timedatectl set-ntp true/);
    assert.match(line(bad.out, "HF write access")!, /✗ HF write access: the token's role is "read"/);
    assert.match(
      fixOf(bad.out, "HF write access")!,
      /write role at https:\/\/huggingface.co\/settings\/tokens/,
    );
    assert.match(line(bad.out, `base model ${IMAGE}`)!, /gated: the Hub refuses its files \(403\)/);
    assert.match(
      fixOf(bad.out, `base model ${IMAGE}`)!,
      new RegExp(`accept the license at https://huggingface.co/${IMAGE}`),
    );
    assert.match(line(bad.out, `base model ${TEXT}`)!, /^✓ /);
    assert.match(
      line(bad.out, "trainer venv")!,
      /✗ trainer venv: .*no-venv\/bin\/python cannot run the trainer/,
    );
    assert.match(fixOf(bad.out, "trainer venv")!, /deno task setup/);
    assert.match(
      line(bad.out, "disk")!,
      /✗ disk: the configured base models take [\d.]+ MB, more than training.cache_max_gb/,
    );
    assert.match(fixOf(bad.out, "disk")!, /raise training.cache_max_gb to at least 1/);

    // The miner's hotkey with another IP on chain than the config's.
    const miner = net.minerWallet;
    const api = await connectApi(net.chain.endpoint);
    try {
      const other = wantedAxon({
        enabled: true,
        ip: "0.0.0.0",
        port: net.axon.port,
        external_ip: "203.0.113.99",
      }, SDK_VERSION);
      assert.ok(other.ok);
      const served = await submitServeAxon(api, NETUID, other.params, miner, 30_000);
      assert.ok(served.ok, JSON.stringify(served));
    } finally {
      await api.disconnect();
    }
    await stampChain(net.chain, 0);
    const axon = await doctor(await write("axon", () => {}), net.hfToken);
    console.log(`--- doctor, wrong axon on chain ---\n${axon.out}`);
    assert.equal(axon.code, 1, axon.out);
    assert.match(
      line(axon.out, "axon on chain")!,
      new RegExp(
        `✗ axon on chain: the chain has 203\\.0\\.113\\.99:${net.axon.port} for this hotkey, the config says 203\\.0\\.113\\.10:${net.axon.port}`,
      ),
    );
    assert.match(
      fixOf(axon.out, "axon on chain")!,
      /`deno task start` serves 203\.0\.113\.10:\d+ (as soon as it starts|at block \d+)/,
    );
    assert.doesNotMatch(green.out + bad.out + axon.out, new RegExp(net.hfToken));
    await Deno.remove(runDir, { recursive: true });
  },
});
