/**
 * Wallet files written by the real bittensor-wallet (PyPI, in .venv-bt) load in our loader, password-protected
 * hotkeys included, and signatures cross both ways between our sr25519 code and bittensor-wallet's Keypair.
 */
import assert from "node:assert/strict";
import { WalletError } from "../core/errors.ts";
import { loadWallet, passwordEnvName, verify } from "../core/wallet.ts";
import { freePort } from "../local/chain_harness.ts";
import { runSdk } from "./axon_sdk.ts";
import { waitFor } from "./helpers.ts";
import { scriptedTerminal } from "./wallet_fixtures.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const HOT_PASSWORD = "hot-pass-123";

const VECTOR_PHRASE = "old leopard transfer rib spatial phone calm indicate online fire caution review";
const VECTOR_SS58 = "5HDvhV6WDCjCKyrXqGQSDYqQAzkzabNhctmiDYEqgBC66BsX";

/** One Python run for the whole file: creating encrypted keys costs seconds of Argon2 each. */
async function setup() {
  const root = await Deno.makeTempDir({ prefix: "wallet_sdk_" });
  const [plain, vector, coldEnc, hotEnc, hotEnv, pySig] = await runSdk([
    { op: "make_wallet", root, name: "plain", hotkey: "miner" },
    { op: "make_wallet", root, name: "vector", hotkey: "default", hotkey_mnemonic: VECTOR_PHRASE },
    { op: "make_wallet", root, name: "coldenc", hotkey: "miner", coldkey_password: "cold-pass-123" },
    { op: "make_wallet", root, name: "hotenc", hotkey: "miner", hotkey_password: HOT_PASSWORD },
    { op: "password_env", root, name: "hotenc", hotkey: "miner", password: HOT_PASSWORD },
    { op: "sign", mnemonic: VECTOR_PHRASE, message: "1700000000.a.b.c.d" },
  ]);
  return { root, plain, vector, coldEnc, hotEnc, hotEnv, pySig };
}

/** A password file under `dir` (the wallet root, removed at the end). */
async function writeSecretFile(dir: string, text: string): Promise<string> {
  const path = await Deno.makeTempFile({ dir, prefix: "password_" });
  await Deno.writeTextFile(path, text, { mode: 0o600 });
  return path;
}

/**
 * `main.ts start` on the hotenc wallet with `password_file`, logging to a temp file; the chain and Hub
 * addresses are closed loopback ports, so a miner that got past its wallet keeps retrying until killed.
 */
async function startMiner(root: string, passwordFile: string) {
  const dir = await Deno.makeTempDir({ prefix: "wallet_sdk_main_" });
  const logFile = `${dir}/data/miner.log`;
  await Deno.writeTextFile(
    `${dir}/config.yml`,
    [
      `wallet: { path: ${root}, name: hotenc, hotkey: miner, password_file: ${passwordFile} }`,
      `bittensor: { netuid: 1, chain_endpoint: "ws://127.0.0.1:${freePort()}" }`,
      `miner: { data_dir: ${dir}/data }`,
      `huggingface: { hub_url: "http://127.0.0.1:${freePort()}" }`,
      `logging: { file: ${logFile} }`,
      `axon: { ip: 127.0.0.1, port: ${freePort()} }`,
    ].join("\n") + "\n",
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "start", "--config", `${dir}/config.yml`],
    // A token keeps the upload actor from crashing the miner; nothing here reaches the Hub.
    env: { NO_COLOR: "1", HF_TOKEN: "hf_unusedTestTokenForTheUploadActor" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  const log = () => Deno.readTextFile(logFile).catch(() => "");
  return { child, output, log, dir };
}

/** Copies a real hotkey file keeping only one of the three secret fields (plus the public ones). */
async function keepOnly(root: string, wallet: string, hotkey: string, secret: string): Promise<string> {
  const file = JSON.parse(await Deno.readTextFile(`${root}/${wallet}/hotkeys/${hotkey}`));
  for (const f of ["secretPhrase", "secretSeed", "privateKey"]) if (f !== secret) delete file[f];
  const name = `${hotkey}-${secret}`;
  await Deno.writeTextFile(`${root}/${wallet}/hotkeys/${name}`, JSON.stringify(file), { mode: 0o600 });
  return name;
}

Deno.test("Wallets made by bittensor-wallet load from each secret field and sign verifiably in Python", async (t) => {
  const s = await setup();

  await t.step(
    "loadWallet() reads the real files: hotkey and coldkeypub addresses, no warnings",
    async () => {
      const { wallet, warnings } = await loadWallet({
        root: s.root,
        name: "plain",
        hotkey: "miner",
        env: {},
      });
      assert.equal(wallet.hotkey.ss58, s.plain.hotkey_ss58);
      assert.equal(wallet.coldkeypub?.ss58, s.plain.coldkey_ss58);
      assert.deepEqual(warnings, []);
    },
  );

  await t.step(
    "each of secretPhrase, secretSeed, privateKey alone signs; Keypair.verify accepts",
    async () => {
      const ops: Record<string, string>[] = [];
      for (const [wallet, info] of [["plain", s.plain], ["vector", s.vector]] as const) {
        const hotkey = wallet === "plain" ? "miner" : "default";
        for (const secret of ["secretPhrase", "secretSeed", "privateKey"]) {
          const name = await keepOnly(s.root, wallet, hotkey, secret);
          const { wallet: w } = await loadWallet({ root: s.root, name: wallet, hotkey: name, env: {} });
          assert.equal(w.hotkey.ss58, info.hotkey_ss58, `${wallet} from ${secret}`);
          const message = `1700000000123456789.${w.hotkey.ss58}.5Fq9Np3.uuid.${secret}`;
          ops.push({ op: "verify", ss58: w.hotkey.ss58, message, signature: w.sign(message) });
          ops.push({ op: "verify", ss58: w.hotkey.ss58, message: message + "x", signature: w.sign(message) });
        }
      }
      const results = await runSdk(ops);
      results.forEach((r, i) => assert.equal(r.valid, i % 2 === 0, `op ${i}: ${JSON.stringify(ops[i])}`));
    },
  );

  await t.step("the btwallet test vector has its published address", () => {
    assert.equal(s.vector.hotkey_ss58, VECTOR_SS58);
  });

  await t.step("verify() accepts a bittensor-wallet signature and refuses it for another message", () => {
    assert.equal(s.pySig.ss58, VECTOR_SS58);
    assert.ok(verify("1700000000.a.b.c.d", s.pySig.signature, VECTOR_SS58));
    assert.ok(!verify("1700000000.a.b.c.e", s.pySig.signature, VECTOR_SS58));
  });

  await t.step(
    "a wallet whose coldkey is password-encrypted loads (the miner only reads coldkeypub)",
    async () => {
      const head = new TextDecoder().decode(
        (await Deno.readFile(`${s.root}/coldenc/coldkey`)).subarray(0, 5),
      );
      assert.equal(head, "$NACL");
      const { wallet } = await loadWallet({ root: s.root, name: "coldenc", hotkey: "miner", env: {} });
      assert.equal(wallet.coldkeypub?.ss58, s.coldEnc.coldkey_ss58);
    },
  );

  // Until issue 13 a password-protected hotkey was refused with a btcli command; it now loads.
  const hotPath = `${s.root}/hotenc/hotkeys/miner`;
  const hotenc = { root: s.root, name: "hotenc", hotkey: "miner" };
  await t.step("the SDK's hotkey is $NACL and its password variable is the one we name", async () => {
    const head = new TextDecoder().decode((await Deno.readFile(hotPath)).subarray(0, 5));
    assert.equal(head, "$NACL");
    assert.equal(s.hotEnv.name, passwordEnvName(hotPath));
    assert.equal(s.hotEnv.sdk_hotkey_ss58, s.hotEnc.hotkey_ss58, "the SDK decrypts with that variable");
  });

  await t.step("loadWallet() decrypts it with the password from the SDK's BT_PW_ variable", async () => {
    const { wallet } = await loadWallet({ ...hotenc, env: { [s.hotEnv.name]: s.hotEnv.value } });
    assert.equal(wallet.hotkey.ss58, s.hotEnc.hotkey_ss58);
    assert.ok(verify("m", wallet.sign("m"), s.hotEnc.hotkey_ss58));
  });

  await t.step("loadWallet() decrypts it with the password from wallet.password_file", async () => {
    const passwordFile = await writeSecretFile(s.root, `${HOT_PASSWORD}\n`);
    const { wallet, warnings } = await loadWallet({ ...hotenc, env: {}, passwordFile });
    assert.equal(wallet.hotkey.ss58, s.hotEnc.hotkey_ss58);
    assert.deepEqual(warnings, []);
  });

  await t.step("loadWallet() decrypts it with the password typed at the prompt", async () => {
    const typed = scriptedTerminal(`${HOT_PASSWORD}\r`);
    const { wallet } = await loadWallet({ ...hotenc, env: {}, terminal: typed.terminal });
    assert.equal(wallet.hotkey.ss58, s.hotEnc.hotkey_ss58);
    assert.equal(typed.written(), `Password for hotkey file "${hotPath}": \n`);
  });

  await t.step("loadWallet() refuses a wrong password naming the key file and the source", async () => {
    const passwordFile = await writeSecretFile(s.root, "not-the-password\n");
    const err = await loadWallet({ ...hotenc, env: {}, passwordFile }).catch((e) => e);
    assert.ok(err instanceof WalletError, String(err));
    assert.equal(err.reason, "wrong_password");
    assert.equal(err.file, hotPath);
    assert.equal(
      err.message,
      `Cannot decrypt hotkey file "${hotPath}": wrong password (from wallet.password_file "${passwordFile}")`,
    );
  });

  await t.step(
    "main.ts start with a wrong password exits 1 naming the key file; no password in the log or output",
    async () => {
      const wrong = "wrong-pass-456";
      const miner = await startMiner(s.root, await writeSecretFile(s.root, wrong));
      const out = await miner.output;
      const text = await miner.log() + new TextDecoder().decode(out.stdout) +
        new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 1, text);
      assert.match(
        text,
        /Cannot start the miner: Cannot decrypt hotkey file ".*hotenc\/hotkeys\/miner": wrong/,
      );
      for (const secret of [wrong, HOT_PASSWORD]) assert.ok(!text.includes(secret), `${secret} in:\n${text}`);
      await Deno.remove(miner.dir, { recursive: true });
    },
  );

  await t.step(
    "main.ts start decrypts the hotkey once and runs; no password in the log or output",
    async () => {
      const miner = await startMiner(s.root, await writeSecretFile(s.root, HOT_PASSWORD));
      try {
        // The JSON-lines file has the start line's hotkey as a property.
        await waitFor(async () => (await miner.log()).includes(`"hotkey":"${s.hotEnc.hotkey_ss58}"`), {
          timeoutMs: 60_000,
          intervalMs: 100,
          what: "the miner to start with the decrypted hotkey",
        });
      } finally {
        // What it logged is on disk (the file sink is unbuffered); a graceful stop is another test's job.
        try {
          miner.child.kill("SIGKILL");
        } catch { /* it exited: its output says why */ }
      }
      const out = await miner.output;
      const text = await miner.log() + new TextDecoder().decode(out.stdout) +
        new TextDecoder().decode(out.stderr);
      assert.ok(text.includes(`Miner ${s.hotEnc.hotkey_ss58} on netuid 1`), text);
      assert.ok(!text.includes(HOT_PASSWORD), text);
      assert.ok(!text.includes(s.hotEnc.hotkey_mnemonic.split(" ").slice(0, 3).join(" ")), text);
      await Deno.remove(miner.dir, { recursive: true });
    },
  );

  await Deno.remove(s.root, { recursive: true });
});
