/**
 * Wallet folders in bittensor-wallet's on-disk layout, for the local network: a fresh mnemonic per
 * wallet, the hotkey as an unencrypted keyfile (as `btcli wallet new_hotkey` writes it) and the
 * coldkey's public half. `core/wallet.ts` loads them like any btcli wallet; tests made with the real
 * bittensor-wallet cover the format itself.
 */
import { u8aToHex } from "@polkadot/util";
import {
  cryptoWaitReady,
  encodeAddress,
  mnemonicGenerate,
  mnemonicToMiniSecret,
  sr25519PairFromSeed,
} from "@polkadot/util-crypto";

export type LocalWallet = {
  name: string;
  hotkey: string;
  ss58: string;
  mnemonic: string;
  coldkeySs58: string;
};

function keyfile(mnemonic: string) {
  const pair = sr25519PairFromSeed(mnemonicToMiniSecret(mnemonic));
  const pub = u8aToHex(pair.publicKey);
  return { publicKey: pub, accountId: pub, ss58Address: encodeAddress(pair.publicKey, 42) };
}

/** Writes `<root>/<name>/hotkeys/<hotkey>` and `<root>/<name>/coldkeypub.txt` (mode 0600). */
export async function makeLocalWallet(root: string, name: string, hotkey = "default"): Promise<LocalWallet> {
  await cryptoWaitReady();
  const mnemonic = mnemonicGenerate(12);
  const hot = { ...keyfile(mnemonic), secretPhrase: mnemonic, cryptoType: 1 };
  const cold = keyfile(mnemonicGenerate(12));
  await Deno.mkdir(`${root}/${name}/hotkeys`, { recursive: true, mode: 0o700 });
  await Deno.writeTextFile(`${root}/${name}/hotkeys/${hotkey}`, JSON.stringify(hot), { mode: 0o600 });
  await Deno.writeTextFile(`${root}/${name}/coldkeypub.txt`, JSON.stringify(cold), { mode: 0o600 });
  return { name, hotkey, ss58: hot.ss58Address, mnemonic, coldkeySs58: cold.ss58Address };
}
