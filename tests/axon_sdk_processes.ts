/**
 * The Python SDK's side of the axon tests and bench, as child processes of the .venv-bt interpreter:
 * a real `bittensor.Axon` serving our synapses (tests/py/sdk_axon.py) and the real `Dendrite` calling
 * an axon case by case (tests/py/sdk_dendrite.py).
 */
import { BT_PYTHON, requireBtVenv, runBtScript } from "./axon_sdk.ts";

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);

/**
 * Waits for a server process's ready line (its first stdout line, JSON such as `{"port": 1234}`) and
 * returns it with the stop that ends the process: closing its stdin is its cue to exit.
 */
export async function serverReady<T>(
  child: Deno.ChildProcess,
  onExit: () => Promise<string>,
): Promise<{ ready: T; stop: () => Promise<void> }> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(await onExit());
    text += value;
  }
  const stop = async () => {
    await child.stdin.close();
    await reader.cancel();
    await child.status;
  };
  return { ready: JSON.parse(text.split("\n")[0]) as T, stop };
}

export interface SdkAxon extends AsyncDisposable {
  readonly port: number;
}

/** Starts the SDK axon on 127.0.0.1 (a free port); `allow` are the hotkeys its blacklist lets in. */
export async function startSdkAxon(mnemonic: string, allow: string[]): Promise<SdkAxon> {
  await requireBtVenv();
  const child = new Deno.Command(BT_PYTHON, {
    args: [`${ROOT}tests/py/sdk_axon.py`, "--mnemonic", mnemonic, "--port", "0", "--allow", ...allow],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const { ready, stop } = await serverReady<{ port: number }>(
    child,
    async () => `tests/py/sdk_axon.py exited before serving (status ${(await child.status).code})`,
  );
  return { port: ready.port, [Symbol.asyncDispose]: stop };
}

export type DendriteCase = {
  case: "call" | "bad_signature" | "replay" | "stale_nonce" | "tampered_body";
  mnemonic: string;
  synapse: string;
  fields?: Record<string, unknown>;
  tamper?: string;
  tamper_value?: unknown;
  timeout?: number;
};

export type DendriteResult = {
  status: number | null;
  message: string | null;
  is_success: boolean;
  first_status: number | null;
  // deno-lint-ignore no-explicit-any
  synapse: Record<string, any>;
};

/** Runs the cases with the SDK's Dendrite against the axon at 127.0.0.1:`port` (hotkey `axonHotkey`). */
export async function runSdkDendrite(
  port: number,
  axonHotkey: string,
  cases: DendriteCase[],
): Promise<DendriteResult[]> {
  const results = await runBtScript<({ ok: true } & DendriteResult | { ok: false; error: string })[]>(
    "tests/py/sdk_dendrite.py",
    { axon: { ip: "127.0.0.1", port, hotkey: axonHotkey }, cases },
  );
  return results.map((r, i) => {
    if (!r.ok) throw new Error(`sdk_dendrite.py case ${i} (${cases[i].case}) failed: ${r.error}`);
    return r;
  });
}
