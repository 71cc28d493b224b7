/**
 * Runs tests/py/bt_helper.py in the .venv-bt interpreter (real bittensor 10.x + bittensor-wallet) with a
 * batch of operations. Tests that need it fail, never skip, when the venv is missing: a skipped interop test
 * would let a protocol drift land green.
 */
const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);
export const BT_PYTHON = `${ROOT}.venv-bt/bin/python`;
export const BT_VENV_INSTALL =
  "python3.11 -m venv .venv-bt && .venv-bt/bin/pip install -r tests/requirements-bt.txt";

// deno-lint-ignore no-explicit-any
export type SdkResult = { ok: true; [key: string]: any } | { ok: false; error: string };

/** Fails with the install command when .venv-bt is missing (never a skip; see above). */
export async function requireBtVenv(): Promise<void> {
  try {
    await Deno.stat(BT_PYTHON);
  } catch {
    throw new Error(
      `Cannot run the Bittensor SDK tests: "${BT_PYTHON}" is missing; create it with: ${BT_VENV_INSTALL}`,
    );
  }
}

/** Runs `script` (relative to the repo) in .venv-bt with `payload` as JSON on stdin; returns its JSON stdout. */
export async function runBtScript<T>(script: string, payload: unknown): Promise<T> {
  await requireBtVenv();
  return await runJsonScript<T>(BT_PYTHON, script, payload);
}

/** Runs `script` (relative to the repo) with `python`, `payload` as JSON on stdin; returns its JSON stdout. */
export async function runJsonScript<T>(python: string, script: string, payload: unknown): Promise<T> {
  const child = new Deno.Command(python, {
    args: [`${ROOT}${script}`],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(payload)));
  await writer.close();
  const out = await child.output();
  const dec = new TextDecoder();
  if (!out.success) throw new Error(`${script} exited ${out.code}: ${dec.decode(out.stderr).slice(-2000)}`);
  return JSON.parse(dec.decode(out.stdout)) as T;
}

/** Runs the operations in one Python process and returns one result per operation (throws on a failed op). */
export async function runSdk(ops: Record<string, unknown>[]): Promise<Extract<SdkResult, { ok: true }>[]> {
  const results = await runBtScript<SdkResult[]>("tests/py/bt_helper.py", ops);
  return results.map((r, i) => {
    if (!r.ok) throw new Error(`bt_helper.py op ${i} (${String(ops[i].op)}) failed: ${r.error}`);
    return r;
  });
}
