/**
 * Runs tests/py/bt_helper.py in the .venv-bt interpreter (real bittensor 10.x + bittensor-wallet) with a
 * batch of operations. Tests that need it fail, never skip, when the venv is missing: a skipped interop test
 * would let a protocol drift land green.
 */
const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);
export const BT_PYTHON = `${ROOT}.venv-bt/bin/python`;
const HELPER = `${ROOT}tests/py/bt_helper.py`;
export const BT_VENV_INSTALL =
  "python3.11 -m venv .venv-bt && .venv-bt/bin/pip install -r tests/requirements-bt.txt";

// deno-lint-ignore no-explicit-any
export type SdkResult = { ok: true; [key: string]: any } | { ok: false; error: string };

/** Runs the operations in one Python process and returns one result per operation (throws on a failed op). */
export async function runSdk(ops: Record<string, unknown>[]): Promise<Extract<SdkResult, { ok: true }>[]> {
  try {
    await Deno.stat(BT_PYTHON);
  } catch {
    throw new Error(
      `Cannot run the Bittensor SDK tests: "${BT_PYTHON}" is missing; create it with: ${BT_VENV_INSTALL}`,
    );
  }
  const child = new Deno.Command(BT_PYTHON, {
    args: [HELPER],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(ops)));
  await writer.close();
  const out = await child.output();
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`bt_helper.py exited ${out.code}: ${stderr.slice(-2000)}`);
  const results = JSON.parse(new TextDecoder().decode(out.stdout)) as SdkResult[];
  return results.map((r, i) => {
    if (!r.ok) throw new Error(`bt_helper.py op ${i} (${String(ops[i].op)}) failed: ${r.error}`);
    return r;
  });
}
