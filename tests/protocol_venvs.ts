/**
 * The two validator-side Python environments the protocol tests run in: .venv-bt (bittensor 10.x, the
 * synapse protocol) and .venv-bt11 (bittensor 11.x, btauth/1), both made by `scripts/setup.sh --test`.
 * The SDK version each holds is read from its requirements file, the one place it is pinned. A missing
 * venv fails the test with the command that makes it, never a skip.
 */
import { runSdk } from "./axon_sdk.ts";
import { VALIDATOR_PHRASE } from "./axon_fixtures.ts";

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);

export interface SdkVenv {
  /** The venv's folder, relative to the repository. */
  readonly dir: string;
  readonly python: string;
  readonly requirements: string;
  /** "10" or "11": which transport satori_protocol picks there. */
  readonly generation: "10" | "11";
}

export const SDK_VENVS: readonly SdkVenv[] = [
  { dir: ".venv-bt", requirements: "tests/requirements-bt.txt", generation: "10" },
  { dir: ".venv-bt11", requirements: "tests/requirements-bt11.txt", generation: "11" },
].map((v) => ({ ...v, python: `${ROOT}${v.dir}/bin/python` }) as SdkVenv);

/** The `bittensor==X` pin of the venv's requirements file. */
export async function pinnedSdk(venv: SdkVenv): Promise<string> {
  const text = await Deno.readTextFile(`${ROOT}${venv.requirements}`);
  const pin = text.match(/^bittensor==(\S+)$/m);
  if (!pin) throw new Error(`Cannot find the bittensor pin in "${venv.requirements}"`);
  return pin[1];
}

/** Fails with the install command when the venv is missing. */
export async function requireVenv(venv: SdkVenv): Promise<void> {
  try {
    await Deno.stat(venv.python);
  } catch {
    throw new Error(
      `Cannot run the ${venv.dir} tests: "${venv.python}" is missing; create it with: bash scripts/setup.sh --test`,
    );
  }
}

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `python args` (cwd: the repository unless given), with `stdin` as its input; bounded by `timeoutMs`. */
export async function runPython(
  python: string,
  args: string[],
  { cwd = ROOT, stdin, timeoutMs = 120_000, env }: {
    cwd?: string;
    stdin?: string;
    timeoutMs?: number;
    env?: Record<string, string>;
  } = {},
): Promise<Ran> {
  const child = new Deno.Command(python, {
    args,
    cwd,
    env,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * Checks `venv` is there, then makes the validator's wallet (the axon fixtures' phrase) in a fresh
 * folder; returns the wallets' root folder and its hotkey.
 */
export async function validatorWallet(
  venv: SdkVenv,
  prefix: string,
): Promise<{ root: string; hotkey: string }> {
  await requireVenv(venv);
  const root = await Deno.makeTempDir({ prefix });
  const [made] = await runSdk([{
    op: "make_wallet",
    root: `${root}/wallets`,
    name: "validator",
    hotkey: "default",
    hotkey_mnemonic: VALIDATOR_PHRASE,
  }]);
  return { root, hotkey: made.hotkey_ss58 as string };
}
