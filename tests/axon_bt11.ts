/**
 * The bittensor 11 side of the task API tests and bench: the .venv-bt11 interpreter (real
 * `bittensor==11.3.0`, made by `scripts/setup.sh --test`; `BT11_PYTHON` may name another), and a
 * runner for its scripts. A missing venv fails the test with the command that makes it, never a skip.
 */
import { runJsonScript } from "./axon_sdk.ts";

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);
export const BT11_PYTHON = Deno.env.get("BT11_PYTHON") ?? `${ROOT}.venv-bt11/bin/python`;

export async function requireBt11Venv(): Promise<void> {
  try {
    await Deno.stat(BT11_PYTHON);
  } catch {
    throw new Error(
      `Cannot run the bittensor 11 tests: "${BT11_PYTHON}" is missing; create it with: bash scripts/setup.sh --test`,
    );
  }
}

/** Runs `script` (relative to the repo) in .venv-bt11 with `payload` as JSON on stdin; returns its JSON stdout. */
export async function runBt11Script<T>(script: string, payload: unknown = null): Promise<T> {
  await requireBt11Venv();
  return await runJsonScript<T>(BT11_PYTHON, script, payload);
}
