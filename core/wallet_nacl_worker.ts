/// <reference lib="deno.worker" />
/**
 * The Web Worker behind `openNacl` (core/wallet_nacl.ts): one job, one answer, then it is terminated,
 * taking Argon2i's 512 MiB of WebAssembly memory with it. Never throws: a failure is an answer; the
 * worker's messages never carry the password or the key.
 */
import sodium from "libsodium-wrappers-sumo";
import { NACL_MEMLIMIT, NACL_OPSLIMIT, NACL_SALT_HEX, type NaclAnswer, type NaclJob } from "./wallet_nacl.ts";

self.onmessage = async (e: MessageEvent<NaclJob>) => {
  const { nonce, ciphertext, password } = e.data;
  let answer: NaclAnswer;
  try {
    await sodium.ready;
    const key = sodium.crypto_pwhash(
      sodium.crypto_secretbox_KEYBYTES,
      password,
      sodium.from_hex(NACL_SALT_HEX),
      NACL_OPSLIMIT,
      NACL_MEMLIMIT,
      sodium.crypto_pwhash_ALG_ARGON2I13,
    );
    let plaintext: Uint8Array | null = null;
    try {
      plaintext = sodium.crypto_secretbox_open_easy(ciphertext, nonce, key);
    } catch {
      // libsodium throws on a tag mismatch: with a well-formed file that means the password is wrong.
    }
    sodium.memzero(key);
    answer = { ok: true, plaintext };
  } catch (err) {
    answer = { ok: false, error: `libsodium failed: ${(err as Error).name}` };
  } finally {
    password.fill(0);
  }
  self.postMessage(answer, answer.ok && answer.plaintext ? [answer.plaintext.buffer as ArrayBuffer] : []);
};
