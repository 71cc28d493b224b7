/**
 * Pure parsing of bittensor-wallet key files (JSON written by btcli / bittensor-wallet) into sr25519 pairs,
 * with the checks the loader needs: secret matches the stored public key and ss58 address. No I/O here, and
 * no error message ever quotes file content, which holds the secret.
 */
import { hexToU8a, isHex, stringToU8a, u8aToHex } from "@polkadot/util";
import {
  decodeAddress,
  encodeAddress,
  mnemonicToMiniSecret,
  mnemonicValidate,
  sr25519PairFromSeed,
  sr25519Sign,
  sr25519Verify,
} from "@polkadot/util-crypto";
import { WalletError } from "./errors.ts";

/** SS58 prefix of the Bittensor chains (sp_core's generic substrate format). */
export const SS58_PREFIX = 42;

export interface PublicKeyInfo {
  readonly ss58: string;
  readonly publicKey: `0x${string}`;
}

export interface Sr25519Pair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export type Keyfile = Record<string, unknown>;

/** True when `ss58` decodes to a 32-byte account id (any prefix, checksum checked). */
export function isValidSs58(ss58: string): boolean {
  try {
    return decodeAddress(ss58).length === 32;
  } catch {
    return false;
  }
}

/** bittensor-wallet's encryption prefixes: `$NACL` (current), Ansible Vault and Fernet (legacy). */
export function isEncrypted(bytes: Uint8Array): boolean {
  const head = new TextDecoder().decode(bytes.subarray(0, 16));
  return head.startsWith("$NACL") || head.startsWith("$ANSIBLE_VAULT") || head.startsWith("gAAAAA");
}

/** Parses a key file. On a syntax error reports line and column only: V8's message may quote the secret. */
export function parseKeyfile(path: string, bytes: Uint8Array): Keyfile {
  const text = new TextDecoder().decode(bytes);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const pos = jsonErrorPosition(text, (e as Error).message);
    const { line, column } = lineColumn(text, pos);
    throw new WalletError(
      path,
      "invalid_json",
      `Cannot parse key file "${path}": invalid JSON at line ${line} column ${column}`,
      line,
      column,
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new WalletError(path, "invalid_key", `Cannot use key file "${path}": expected a JSON object`);
  }
  return value as Keyfile;
}

/** Offset of a JSON syntax error: V8's "at position N" when given, else the shortest failing prefix. */
function jsonErrorPosition(text: string, message: string): number {
  const m = /at position (\d+)/.exec(message);
  if (m) return Number(m[1]);
  // A truncated prefix fails at its very end ("Unexpected end", or a position equal to its length):
  // binary-search the shortest prefix that fails earlier than that.
  const failsBefore = (n: number) => {
    try {
      JSON.parse(text.slice(0, n));
      return false;
    } catch (e) {
      const msg = (e as Error).message;
      const at = /at position (\d+)/.exec(msg);
      return !/Unexpected end of JSON input/.test(msg) && (at === null || Number(at[1]) < n);
    }
  };
  let lo = 0, hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (failsBefore(mid + 1)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function lineColumn(text: string, pos: number): { line: number; column: number } {
  const before = text.slice(0, pos).split("\n");
  return { line: before.length, column: before[before.length - 1].length + 1 };
}

function field(file: Keyfile, key: string): string | undefined {
  const v = file[key];
  return typeof v === "string" && v.length > 0 ? v : undefined;
}

/** bittensor-wallet's order: `secretPhrase`, else `secretSeed`, else the 64-byte `privateKey`. */
export function pairFromKeyfile(path: string, file: Keyfile): Sr25519Pair {
  const bad = (what: string) =>
    new WalletError(path, "invalid_key", `Cannot use key file "${path}": ${what}`);
  if (file.cryptoType !== undefined && file.cryptoType !== 1) {
    throw bad(
      `cryptoType ${JSON.stringify(file.cryptoType)} is not sr25519 (1), which Bittensor axons verify`,
    );
  }
  const phrase = field(file, "secretPhrase");
  const seed = field(file, "secretSeed");
  const priv = field(file, "privateKey");
  let pair: Sr25519Pair;
  if (phrase !== undefined) {
    if (!mnemonicValidate(phrase)) throw bad("secretPhrase is not a valid BIP-39 mnemonic");
    pair = sr25519PairFromSeed(mnemonicToMiniSecret(phrase));
  } else if (seed !== undefined) {
    if (!isHex(seed, 256)) throw bad("secretSeed is not 0x-prefixed 32-byte hex");
    pair = sr25519PairFromSeed(hexToU8a(seed));
  } else if (priv !== undefined) {
    if (!isHex(priv, 512)) throw bad("privateKey is not 0x-prefixed 64-byte hex");
    const expected = publicFromKeyfile(path, file);
    pair = { publicKey: decodeAddress(expected.ss58), secretKey: schnorrkelToEd25519Form(hexToU8a(priv)) };
    // A 64-byte secret carries no public key to derive: prove the pair by a sign/verify round trip.
    const probe = stringToU8a("satori-miner key check");
    if (!sr25519Verify(probe, sr25519Sign(probe, pair), pair.publicKey)) {
      throw mismatch(path, "privateKey does not match the public key in the file");
    }
  } else {
    throw bad("it has no secretPhrase, secretSeed or privateKey (is it a public-only file?)");
  }
  const declared = field(file, "ss58Address");
  if (declared !== undefined && declared !== encodeAddress(pair.publicKey, SS58_PREFIX)) {
    throw mismatch(path, "the secret does not produce the ss58Address stored in the file");
  }
  const pub = field(file, "publicKey");
  if (pub !== undefined && pub.toLowerCase() !== u8aToHex(pair.publicKey)) {
    throw mismatch(path, "the secret does not produce the publicKey stored in the file");
  }
  return pair;
}

function mismatch(path: string, what: string): WalletError {
  return new WalletError(
    path,
    "mismatch",
    `Cannot use key file "${path}": ${what}; the file is corrupt or edited`,
  );
}

/** Public key of a public-only file (`coldkeypub.txt`): `publicKey`/`accountId`, checked against `ss58Address`. */
export function publicFromKeyfile(path: string, file: Keyfile): PublicKeyInfo {
  const hex = field(file, "publicKey") ?? field(file, "accountId");
  const ss58 = field(file, "ss58Address");
  let fromHex: PublicKeyInfo | null = null;
  if (hex !== undefined) {
    if (!isHex(hex, 256)) {
      throw new WalletError(path, "invalid_key", `Cannot use key file "${path}": bad publicKey`);
    }
    fromHex = publicInfo(hexToU8a(hex));
  }
  if (ss58 !== undefined) {
    if (!isValidSs58(ss58)) {
      throw new WalletError(
        path,
        "invalid_key",
        `Cannot use key file "${path}": invalid ss58Address "${ss58}"`,
      );
    }
    const fromSs58 = publicInfo(decodeAddress(ss58));
    if (fromHex && fromHex.publicKey !== fromSs58.publicKey) {
      throw mismatch(path, "publicKey and ss58Address disagree");
    }
    return fromSs58;
  }
  if (fromHex) return fromHex;
  throw new WalletError(
    path,
    "invalid_key",
    `Cannot use key file "${path}": it has no publicKey or ss58Address`,
  );
}

export function publicInfo(publicKey: Uint8Array): PublicKeyInfo {
  return { ss58: encodeAddress(publicKey, SS58_PREFIX), publicKey: u8aToHex(publicKey) };
}

/**
 * bittensor-wallet stores schnorrkel's canonical `SecretKey::to_bytes()` (scalar ‖ nonce); polkadot.js wants
 * the "ed25519 form" with the scalar multiplied by the cofactor 8. Scalar < 2^253, so ×8 fits in 32 bytes.
 */
export function schnorrkelToEd25519Form(secret: Uint8Array): Uint8Array {
  const out = new Uint8Array(64);
  let carry = 0;
  for (let i = 0; i < 32; i++) {
    const v = (secret[i] << 3) | carry;
    out[i] = v & 0xff;
    carry = v >> 8;
  }
  out.set(secret.subarray(32, 64), 32);
  return out;
}
