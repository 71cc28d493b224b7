/**
 * Loads the miner's Bittensor hotkey from the wallet files that btcli / bittensor-wallet write
 * (`<root>/<name>/hotkeys/<hotkey>`, `<root>/<name>/coldkeypub.txt`), decrypting a password-protected
 * (`$NACL`) one once, and signs with it (sr25519). Secrets live only in a private field: they never reach
 * logs, errors, JSON or `Deno.inspect`; neither does the password.
 */
import { hexToU8a, isHex, stringToU8a, u8aConcat, u8aToHex } from "@polkadot/util";
import { cryptoWaitReady, decodeAddress } from "@polkadot/util-crypto";
// The wasm build of schnorrkel: ~4x faster than util-crypto's pure-JS sr25519, and the axon verifies
// one signature per request.
import { sr25519Sign, sr25519Verify, waitReady } from "@polkadot/wasm-crypto";

// Top-level: `verify` is sync and may run before any wallet is loaded (servers verifying peers).
await waitReady();
import { WalletError } from "./errors.ts";
import { isNacl, openNacl } from "./wallet_nacl.ts";
import {
  findPassword,
  passwordEnvName,
  type PasswordSources,
  type PasswordTerminal,
} from "./wallet_password.ts";
import {
  isEncrypted,
  pairFromKeyfile,
  parseKeyfile,
  publicFromKeyfile,
  publicInfo,
  type PublicKeyInfo,
  type Sr25519Pair,
} from "./wallet_keyfile.ts";

export { isValidSs58, type PublicKeyInfo, SS58_PREFIX } from "./wallet_keyfile.ts";
export { passwordEnvName, type PasswordTerminal } from "./wallet_password.ts";
export const DEFAULT_WALLET_ROOT = "~/.bittensor/wallets";

export interface WalletOptions {
  /** Config `wallet.path`; `BT_WALLET_PATH` in `env` overrides it, as in bittensor-wallet. */
  readonly root?: string;
  readonly name: string;
  readonly hotkey: string;
  /** Environment to read `BT_WALLET_PATH`, `HOME` and the SDK's `BT_PW_…` password from (no globals). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Config `wallet.password_file`: the hotkey's password when the `BT_PW_…` variable is unset. */
  readonly passwordFile?: string | null;
  /** Asked for the password last, and only when its stdin is a terminal (the CLI passes Deno.stdin). */
  readonly terminal?: PasswordTerminal | null;
}

export interface LoadedWallet {
  readonly wallet: Wallet;
  /** Non-fatal problems (loose file permissions, missing coldkeypub.txt), for the caller to log. */
  readonly warnings: string[];
}

/** A loaded hotkey. Holds the secret key in a private field; serializes to public data only. */
export class Wallet {
  readonly #pair: Sr25519Pair;
  readonly hotkey: PublicKeyInfo;

  constructor(
    readonly name: string,
    readonly hotkeyName: string,
    readonly path: string,
    pair: Sr25519Pair,
    readonly coldkeypub: PublicKeyInfo | null,
  ) {
    this.#pair = pair;
    this.hotkey = publicInfo(pair.publicKey);
  }

  /** Signs the UTF-8 bytes of a string (never hex-decoded, unlike btwallet for "0x…" strings) or raw bytes. */
  sign(message: string | Uint8Array): `0x${string}` {
    const bytes = typeof message === "string" ? stringToU8a(message) : message;
    return u8aToHex(sr25519Sign(this.#pair.publicKey, this.#pair.secretKey, bytes));
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, hotkeyName: this.hotkeyName, hotkey: this.hotkey, coldkeypub: this.coldkeypub };
  }

  // Both inspectors (Deno's console and node:util) print the public data only.
  [Symbol.for("Deno.customInspect")](): string {
    return `Wallet ${JSON.stringify(this.toJSON())}`;
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `Wallet ${JSON.stringify(this.toJSON())}`;
  }
}

const BYTES_OPEN = stringToU8a("<Bytes>");
const BYTES_CLOSE = stringToU8a("</Bytes>");

/**
 * Verifies an sr25519 signature like bittensor-wallet's `Keypair.verify`: over the UTF-8 message, or over it
 * wrapped in `<Bytes>…</Bytes>` (what polkadot.js extensions sign). Never throws: bad input is `false`.
 */
export function verify(message: string | Uint8Array, signature: string, ss58: string): boolean {
  try {
    if (!isHex(signature, 512)) return false;
    const publicKey = decodeAddress(ss58);
    const bytes = typeof message === "string" ? stringToU8a(message) : message;
    const sig = hexToU8a(signature);
    return sr25519Verify(sig, bytes, publicKey) ||
      sr25519Verify(sig, u8aConcat(BYTES_OPEN, bytes, BYTES_CLOSE), publicKey);
  } catch {
    return false;
  }
}

/** Wallet root: `BT_WALLET_PATH`, else the configured path, else `~/.bittensor/wallets`; `~` expanded. */
export function resolveWalletRoot(root: string | undefined, env: WalletOptions["env"]): string {
  const chosen = env.BT_WALLET_PATH || root || DEFAULT_WALLET_ROOT;
  if (chosen === "~" || chosen.startsWith("~/")) {
    const home = env.HOME ?? env.USERPROFILE;
    if (!home) {
      throw new WalletError(chosen, "missing", `Cannot expand wallet path "${chosen}": HOME is not set`);
    }
    return home + chosen.slice(1);
  }
  return chosen;
}

/** Loads and checks the hotkey (and the owner's coldkeypub) of a wallet. Throws `WalletError`. */
export async function loadWallet(opts: WalletOptions): Promise<LoadedWallet> {
  await cryptoWaitReady();
  const root = resolveWalletRoot(opts.root, opts.env).replace(/\/+$/, "");
  const walletDir = `${root}/${opts.name}`;
  const hotkeyPath = `${walletDir}/hotkeys/${opts.hotkey}`;
  const where = `--wallet.name ${opts.name} --wallet.hotkey ${opts.hotkey} --wallet.path ${root}`;
  const warnings: string[] = [];

  if (!(await Deno.stat(walletDir).then(() => true, () => false))) {
    throw new WalletError(
      walletDir,
      "missing",
      `Cannot load wallet "${opts.name}": folder "${walletDir}" does not exist; ` +
        `create it with \`btcli wallet create ${where}\` or set wallet.path / BT_WALLET_PATH`,
    );
  }
  const raw = (await readKeyfile(hotkeyPath, `btcli wallet new-hotkey ${where}`))!;
  warnings.push(...permissionWarnings(hotkeyPath, raw.mode));
  const plain = isNacl(raw.bytes) ? await decryptHotkey(hotkeyPath, raw.bytes, opts, warnings) : raw.bytes;
  if (isEncrypted(plain)) {
    throw new WalletError(
      hotkeyPath,
      "encrypted",
      `Cannot load hotkey "${opts.hotkey}": file "${hotkeyPath}" uses a legacy encryption (Ansible Vault or ` +
        `Fernet) the miner does not read; re-create it from its mnemonic with ` +
        `\`btcli wallet regen-hotkey ${where}\` (with or without a password)`,
    );
  }
  let pair: Sr25519Pair;
  try {
    pair = pairFromKeyfile(hotkeyPath, parseKeyfile(hotkeyPath, plain));
  } finally {
    // The (decrypted) JSON holds the mnemonic: keep it no longer than the pair needs.
    plain.fill(0);
  }

  // coldkeypub.txt only names the owner: a miner can serve without it, so its absence is a warning.
  const coldPath = `${walletDir}/coldkeypub.txt`;
  const cold = await readKeyfile(coldPath, null);
  const coldkeypub = cold && publicFromKeyfile(coldPath, parseKeyfile(coldPath, cold.bytes));
  if (!cold) {
    warnings.push(
      `Coldkey public file "${coldPath}" is missing: the owner address is unknown; restore it with ` +
        `\`btcli wallet regen-coldkeypub --wallet.name ${opts.name} --wallet.path ${root}\``,
    );
  }
  return { wallet: new Wallet(opts.name, opts.hotkey, hotkeyPath, pair, coldkeypub), warnings };
}

/**
 * Decrypts a `$NACL` hotkey with the first password found (`BT_PW_…`, password file, prompt). Throws a
 * `WalletError` naming the file when there is none or it is wrong; the message never holds the password.
 */
async function decryptHotkey(
  path: string,
  bytes: Uint8Array,
  sources: PasswordSources,
  warnings: string[],
): Promise<Uint8Array> {
  const found = await findPassword(path, sources, warnings);
  if (found === null) {
    throw new WalletError(
      path,
      "encrypted",
      `Cannot load hotkey file "${path}": it is password-protected and no password was given; set ` +
        `wallet.password_file in the config, or ${passwordEnvName(path)} as bittensor-wallet's ` +
        `save_password_to_env writes it, or start the miner from a terminal to be asked`,
    );
  }
  const plain = await openNacl(path, bytes, found.password);
  if (plain === null) {
    throw new WalletError(
      path,
      "wrong_password",
      `Cannot decrypt hotkey file "${path}": wrong password (from ${found.source})`,
    );
  }
  return plain;
}

/** Reads a key file; a missing one throws with `createCmd`, or gives null when `createCmd` is null. */
async function readKeyfile(
  path: string,
  createCmd: string | null,
): Promise<{ bytes: Uint8Array; mode: number | null } | null> {
  try {
    const [bytes, stat] = await Promise.all([Deno.readFile(path), Deno.stat(path)]);
    return { bytes, mode: stat.mode };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound && createCmd === null) return null;
    if (e instanceof Deno.errors.NotFound) {
      throw new WalletError(
        path,
        "missing",
        `Cannot load key file "${path}": it does not exist; create it with \`${createCmd}\``,
      );
    }
    // OS errors (permission denied, is a directory) name the path only, never file content.
    throw new WalletError(path, "unreadable", `Cannot read key file "${path}": ${(e as Error).message}`);
  }
}

function permissionWarnings(path: string, mode: number | null): string[] {
  if (mode === null || (mode & 0o077) === 0) return [];
  const octal = (mode & 0o777).toString(8).padStart(3, "0");
  return [
    `Hotkey file "${path}" is accessible by group or others (mode ${octal}); restrict it: chmod 600 "${path}"`,
  ];
}
