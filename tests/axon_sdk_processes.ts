/**
 * The Python SDK's side of the axon tests and bench, as child processes of the .venv-bt interpreter:
 * a real `bittensor.Axon` serving our synapses (tests/py/sdk_axon.py) and the real `Dendrite` calling
 * an axon case by case (tests/py/sdk_dendrite.py).
 */
import { BT_PYTHON, BT_VENV_INSTALL } from "./axon_sdk.ts";

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);

async function requireVenv(): Promise<void> {
  try {
    await Deno.stat(BT_PYTHON);
  } catch {
    throw new Error(
      `Cannot run the Bittensor SDK: "${BT_PYTHON}" is missing; create it with: ${BT_VENV_INSTALL}`,
    );
  }
}

export interface SdkAxon extends AsyncDisposable {
  readonly port: number;
}

/** Starts the SDK axon on 127.0.0.1 (a free port); `allow` are the hotkeys its blacklist lets in. */
export async function startSdkAxon(mnemonic: string, allow: string[]): Promise<SdkAxon> {
  await requireVenv();
  const child = new Deno.Command(BT_PYTHON, {
    args: [`${ROOT}tests/py/sdk_axon.py`, "--mnemonic", mnemonic, "--port", "0", "--allow", ...allow],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) {
      throw new Error(`tests/py/sdk_axon.py exited before serving (status ${(await child.status).code})`);
    }
    text += value;
  }
  const { port } = JSON.parse(text.split("\n")[0]) as { port: number };
  return {
    port,
    [Symbol.asyncDispose]: async () => {
      await child.stdin.close();
      await reader.cancel();
      await child.status;
    },
  };
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
  await requireVenv();
  const child = new Deno.Command(BT_PYTHON, {
    args: [`${ROOT}tests/py/sdk_dendrite.py`],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify({
    axon: { ip: "127.0.0.1", port, hotkey: axonHotkey },
    cases,
  })));
  await writer.close();
  const out = await child.output();
  if (!out.success) {
    throw new Error(
      `sdk_dendrite.py exited ${out.code}: ${new TextDecoder().decode(out.stderr).slice(-2000)}`,
    );
  }
  const results = JSON.parse(new TextDecoder().decode(out.stdout)) as ({ ok: true } & DendriteResult | {
    ok: false;
    error: string;
  })[];
  return results.map((r, i) => {
    if (!r.ok) throw new Error(`sdk_dendrite.py case ${i} (${cases[i].case}) failed: ${r.error}`);
    return r;
  });
}
