/**
 * A miner entry script as a child process that prints one JSON line per event: the crash tests read
 * its lines, wait for the one they need (each wait bounded), and SIGKILL it.
 */

/** Rejects with "Timed out … waiting for `what`" once `deadline` (epoch ms) passes first. */
async function before<T>(p: Promise<T>, deadline: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Timed out waiting for ${what}`)),
      Math.max(0, deadline - Date.now()),
    );
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts an entry script and returns a reader that resolves on the first line matching `until`
 * (within `timeoutMs`). Disposing it SIGKILLs a miner still running and reads it to the end.
 */
export function spawnEntry<L>(entry: string, args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", entry, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let exited = false;
  child.status.then(() => (exited = true));
  const lines: L[] = [];
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let reading: Promise<ReadableStreamReadResult<string>> | null = null; // kept across a time-out
  async function until(pred: (l: L) => boolean, what: string, timeoutMs = 120_000): Promise<L> {
    const seen = lines.find(pred);
    if (seen) return seen;
    const deadline = Date.now() + timeoutMs;
    while (true) {
      reading ??= reader.read();
      const { value, done } = await before(reading, deadline, what);
      reading = null;
      if (done) throw new Error(`Miner exited before ${what}`);
      buffer += value;
      const parts = buffer.split("\n");
      buffer = parts.pop() ?? "";
      const read = parts.filter(Boolean).map((part) => JSON.parse(part) as L);
      lines.push(...read); // all of them: a later `until` may want a line that came in this chunk
      const line = read.find(pred);
      if (line) return line;
    }
  }
  const drain = async () => {
    await until(() => false, "the end", 30_000).catch(() => {});
  };
  const dispose = async () => {
    if (!exited) child.kill("SIGKILL");
    await child.status;
    await drain();
  };
  return { child, lines, until, drain, [Symbol.asyncDispose]: dispose };
}
