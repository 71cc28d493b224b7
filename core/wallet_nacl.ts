/**
 * Opens bittensor-wallet's password-protected key files: `$NACL` ‖ 24-byte nonce ‖ NaCl secretbox
 * (XSalsa20-Poly1305) of the key file JSON, keyed by Argon2i v1.3 of the password with libsodium's
 * "sensitive" limits and a fixed salt (btwallet src/keyfile.rs `derive_key`, `encrypt_keyfile_data`).
 * The work runs in a Web Worker on libsodium (the library btwallet itself calls): Argon2i fills 512 MiB of
 * WebAssembly memory, which never shrinks, so only terminating the worker gives it back.
 */
import { WalletError } from "./errors.ts";

export const NACL_PREFIX = "$NACL";
export const NACL_NONCE_BYTES = 24;
/** Poly1305 tag: the shortest ciphertext is this long (an empty plaintext). */
export const NACL_MAC_BYTES = 16;
/** btwallet's `NACL_SALT`, b"\x13q\x83\xdf\xf1Z\t\xbc\x9c\x90\xb5Q\x879\xe9\xb1". */
export const NACL_SALT_HEX = "137183dff15a09bc9c90b5518739e9b1";
/** libsodium `crypto_pwhash_argon2i_OPSLIMIT_SENSITIVE` and `MEMLIMIT_SENSITIVE` (parallelism is 1). */
export const NACL_OPSLIMIT = 8;
export const NACL_MEMLIMIT = 512 * 1024 * 1024;

/** What the worker is sent: the password as UTF-8 bytes (btwallet hashes `password.as_bytes()`). */
export interface NaclJob {
  readonly nonce: Uint8Array;
  readonly ciphertext: Uint8Array;
  readonly password: Uint8Array;
}

/** What the worker answers: the plaintext, or `null` when the tag does not verify (a wrong password). */
export type NaclAnswer = { ok: true; plaintext: Uint8Array | null } | { ok: false; error: string };

const WORKER = new URL("./wallet_nacl_worker.ts", import.meta.url);

export function isNacl(bytes: Uint8Array): boolean {
  return new TextDecoder().decode(bytes.subarray(0, NACL_PREFIX.length)) === NACL_PREFIX;
}

/**
 * Decrypts a `$NACL` key file. Resolves with the key file JSON bytes, or `null` when the password is wrong;
 * throws `WalletError` when the file is too short to be one. Takes ~4 s and 512 MiB for as long as it runs.
 */
export async function openNacl(
  path: string,
  bytes: Uint8Array,
  password: string,
): Promise<Uint8Array | null> {
  const start = NACL_PREFIX.length;
  if (!isNacl(bytes) || bytes.length < start + NACL_NONCE_BYTES + NACL_MAC_BYTES) {
    throw new WalletError(
      path,
      "invalid_key",
      `Cannot decrypt key file "${path}": it is too short to be a $NACL key file (${bytes.length} bytes)`,
    );
  }
  const secret = new TextEncoder().encode(password);
  const job: NaclJob = {
    nonce: bytes.slice(start, start + NACL_NONCE_BYTES),
    ciphertext: bytes.slice(start + NACL_NONCE_BYTES),
    password: secret,
  };
  // The worker needs no file, network or env access: it only computes.
  const worker = new Worker(WORKER, { type: "module", deno: { permissions: "none" } });
  try {
    const answer = await new Promise<NaclAnswer>((resolve) => {
      worker.onmessage = (e: MessageEvent<NaclAnswer>) => resolve(e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        resolve({ ok: false, error: e.message });
      };
      // Transferred, not copied: this side keeps no copy of the password bytes.
      worker.postMessage(job, [secret.buffer]);
    });
    if (!answer.ok) {
      throw new WalletError(path, "unreadable", `Cannot decrypt key file "${path}": ${answer.error}`);
    }
    return answer.plaintext;
  } finally {
    worker.terminate();
  }
}
