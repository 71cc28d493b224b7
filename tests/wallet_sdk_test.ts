/**
 * Wallet files written by the real bittensor-wallet (PyPI, in .venv-bt) load in our loader, and signatures
 * cross both ways between our sr25519 code and bittensor-wallet's Keypair.
 */
import assert from "node:assert/strict";
import { WalletError } from "../core/errors.ts";
import { loadWallet, verify } from "../core/wallet.ts";
import { runSdk } from "./axon_sdk.ts";

const VECTOR_PHRASE = "old leopard transfer rib spatial phone calm indicate online fire caution review";
const VECTOR_SS58 = "5HDvhV6WDCjCKyrXqGQSDYqQAzkzabNhctmiDYEqgBC66BsX";

/** One Python run for the whole file: creating encrypted keys costs seconds of Argon2 each. */
async function setup() {
  const root = await Deno.makeTempDir({ prefix: "wallet_sdk_" });
  const [plain, vector, coldEnc, hotEnc, pySig] = await runSdk([
    { op: "make_wallet", root, name: "plain", hotkey: "miner" },
    { op: "make_wallet", root, name: "vector", hotkey: "default", hotkey_mnemonic: VECTOR_PHRASE },
    { op: "make_wallet", root, name: "coldenc", hotkey: "miner", coldkey_password: "cold-pass-123" },
    { op: "make_wallet", root, name: "hotenc", hotkey: "miner", hotkey_password: "hot-pass-123" },
    { op: "sign", mnemonic: VECTOR_PHRASE, message: "1700000000.a.b.c.d" },
  ]);
  return { root, plain, vector, coldEnc, hotEnc, pySig };
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

  await t.step("a password-encrypted hotkey is refused with the btcli command that fixes it", async () => {
    const err = await loadWallet({ root: s.root, name: "hotenc", hotkey: "miner", env: {} }).catch((e) => e);
    assert.ok(err instanceof WalletError);
    assert.equal(err.reason, "encrypted");
    assert.match(err.message, /btcli wallet regen-hotkey --wallet\.name hotenc --wallet\.hotkey miner/);
    assert.ok(!err.message.includes("hot-pass-123"));
  });

  await Deno.remove(s.root, { recursive: true });
});
