/**
 * Where the password of a `$NACL` hotkey comes from, in this order: the environment variable the Bittensor
 * SDK reads for that key file (`BT_PW_<path>`), the file named by `wallet.password_file`, then a prompt
 * when stdin is a terminal. Passwords are returned to the caller only: never logged, never in an error.
 */
import { WalletError } from "./errors.ts";

/** A password and where it came from, for the error that says it is wrong. */
export interface FoundPassword {
  readonly password: string;
  readonly source: string;
}

/** Deno.stdin and Deno.stderr fit; tests pass a scripted one. */
export interface PasswordTerminal {
  readonly stdin: {
    isTerminal(): boolean;
    setRaw(mode: boolean): void;
    read(p: Uint8Array): Promise<number | null>;
  };
  readonly output: { writeSync(p: Uint8Array): number };
}

export interface PasswordSources {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Config `wallet.password_file`. */
  readonly passwordFile?: string | null;
  /** Asked only when its stdin is a terminal. */
  readonly terminal?: PasswordTerminal | null;
}

/**
 * The SDK's variable for a key file (btwallet `Keyfile::env_var_name`): `BT_PW_` + the path, `~` already
 * expanded, with `/` and `.` turned into `_`, upper-cased. `/home/u/.bittensor/wallets/w/hotkeys/h` gives
 * `BT_PW__HOME_U__BITTENSOR_WALLETS_W_HOTKEYS_H`.
 */
export function passwordEnvName(keyfilePath: string): string {
  return "BT_PW_" + keyfilePath.replaceAll("/", "_").replaceAll(".", "_").toUpperCase();
}

/**
 * Reads the SDK's encoding of that variable (btwallet `save_password_to_env`): base64 of the UTF-8
 * password XORed byte by byte with the variable's name, repeated. A plain password there is not this.
 */
export function decodeEnvPassword(name: string, value: string): string {
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.from(atob(value.trim()), (c) => c.charCodeAt(0));
  } catch {
    throw new WalletError(
      name,
      "wrong_password",
      `Cannot use environment variable ${name}: it is not base64 as bittensor-wallet's ` +
        "save_password_to_env writes it",
    );
  }
  const key = new TextEncoder().encode(name);
  const plain = bytes.map((b, i) => b ^ key[i % key.length]);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(plain);
  } catch {
    throw new WalletError(
      name,
      "wrong_password",
      `Cannot use environment variable ${name}: it does not decode to a UTF-8 password with this name ` +
        "(was it written for another key file path?)",
    );
  } finally {
    plain.fill(0);
  }
}

/** The first password available for `keyfilePath`, or null when none is; `warnings` gets file mode issues. */
export async function findPassword(
  keyfilePath: string,
  sources: PasswordSources,
  warnings: string[],
): Promise<FoundPassword | null> {
  const name = passwordEnvName(keyfilePath);
  const fromEnv = sources.env[name];
  if (fromEnv) return { password: decodeEnvPassword(name, fromEnv), source: `environment variable ${name}` };
  if (sources.passwordFile) {
    const password = await readPasswordFile(sources.passwordFile, warnings);
    return { password, source: `wallet.password_file "${sources.passwordFile}"` };
  }
  if (sources.terminal?.stdin.isTerminal()) {
    const password = await promptPassword(sources.terminal, `Password for hotkey file "${keyfilePath}": `);
    if (password === null) {
      throw new WalletError(
        keyfilePath,
        "encrypted",
        `Cannot load hotkey file "${keyfilePath}": prompt cancelled`,
      );
    }
    return { password, source: "the terminal prompt" };
  }
  return null;
}

/** The file's text less one final line break (`echo pw > file` adds one). */
export async function readPasswordFile(path: string, warnings: string[]): Promise<string> {
  let text: string;
  let mode: number | null;
  try {
    [text, { mode }] = await Promise.all([Deno.readTextFile(path), Deno.stat(path)]);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "it does not exist" : (e as Error).message;
    throw new WalletError(path, "unreadable", `Cannot read wallet.password_file "${path}": ${why}`);
  }
  if (mode !== null && (mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8).padStart(3, "0");
    warnings.push(
      `Password file "${path}" is accessible by group or others (mode ${octal}); restrict it: chmod 600 "${path}"`,
    );
  }
  const password = text.replace(/\r?\n$/, "");
  if (password === "") {
    throw new WalletError(path, "unreadable", `Cannot use wallet.password_file "${path}": it is empty`);
  }
  return password;
}

const ENTER = new Set([0x0a, 0x0d]);
const CANCEL = new Set([0x03, 0x04]); // Ctrl-C, Ctrl-D: raw mode turns them into bytes, not signals
const ERASE = new Set([0x08, 0x7f]);

/**
 * Asks for a password on a terminal without echo; null when cancelled (Ctrl-C, Ctrl-D) or when stdin is
 * not a terminal. Surrounding spaces are dropped, as the SDK's own prompt does when it sets one.
 */
export async function promptPassword(term: PasswordTerminal, question: string): Promise<string | null> {
  if (!term.stdin.isTerminal()) return null;
  const typed: number[] = [];
  const buf = new Uint8Array(64);
  term.output.writeSync(new TextEncoder().encode(question));
  term.stdin.setRaw(true);
  try {
    for (;;) {
      const n = await term.stdin.read(buf);
      if (n === null) break;
      for (const byte of buf.subarray(0, n)) {
        if (ENTER.has(byte)) return new TextDecoder().decode(new Uint8Array(typed)).trim();
        if (CANCEL.has(byte)) return null;
        if (ERASE.has(byte)) eraseLastChar(typed);
        else typed.push(byte);
      }
    }
    return new TextDecoder().decode(new Uint8Array(typed)).trim();
  } finally {
    buf.fill(0);
    typed.fill(0);
    term.stdin.setRaw(false);
    term.output.writeSync(new TextEncoder().encode("\n"));
  }
}

/** Drops the last UTF-8 character: its continuation bytes (10xxxxxx), then its lead byte. */
function eraseLastChar(typed: number[]): void {
  while (typed.length > 0 && (typed[typed.length - 1] & 0xc0) === 0x80) typed.pop();
  typed.pop();
}
