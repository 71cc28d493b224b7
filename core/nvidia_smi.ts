/**
 * One `nvidia-smi --query-gpu` run, for whoever needs a fact about the cards (the GPU actors'
 * discovery at start, the status page's poll). Callers decide what each failure means to them: a
 * missing tool means "train on the CPU" to one and "no GPU figures" to the other.
 */

export type QueryResult =
  | { ok: true; csv: string }
  | { ok: false; kind: "missing" }
  | { ok: false; kind: "exited"; code: number; stderr: string }
  | { ok: false; kind: "failed"; error: Error };

/**
 * Runs `command --query-gpu=<fields> --format=csv,noheader,nounits`. `stderr` is the last line the tool
 * printed. Without `timeoutMs` an error other than a missing tool is thrown: the caller has no
 * deadline to blame it on.
 */
export async function queryGpus(command: string, fields: string, timeoutMs?: number): Promise<QueryResult> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(command, {
      args: [`--query-gpu=${fields}`, "--format=csv,noheader,nounits"],
      stdout: "piped",
      stderr: "piped",
      signal: timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs),
    }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { ok: false, kind: "missing" };
    if (timeoutMs === undefined) throw e;
    return { ok: false, kind: "failed", error: e as Error };
  }
  if (!out.success) {
    const stderr = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1) ?? "";
    return { ok: false, kind: "exited", code: out.code, stderr };
  }
  return { ok: true, csv: new TextDecoder().decode(out.stdout) };
}
