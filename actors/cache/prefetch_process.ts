/**
 * One `python -m trainer prefetch` run (trainer/cache.py): spawned in its own process group, its
 * stdout parsed line by line against `PrefetchEvent` and handed to `onEvent`, its stderr kept (the
 * last lines) for a failure message. `stop()` sends SIGTERM: the partial blob stays for the next run.
 */
import { PrefetchEvent } from "../../core/model_cache.ts";

export type PrefetchRun = { done: Promise<{ code: number; stderr: string }>; stop(): void };

export type PrefetchOptions = {
  python: string;
  trainerRoot: string;
  cacheDir: string;
  model: string;
  hubUrl: string;
  token: string | undefined;
  env?: Record<string, string>;
  /** Bytes written at a time (default the trainer's 1 MiB): progress and resume move in these steps. */
  chunkBytes?: number;
};

export function startPrefetch(opts: PrefetchOptions, onEvent: (e: PrefetchEvent) => void): PrefetchRun {
  const env: Record<string, string> = { ...opts.env, PYTHONUNBUFFERED: "1" };
  if (opts.token) env.HF_TOKEN = opts.token;
  const child = new Deno.Command(opts.python, {
    args: [
      ...[
        "-m",
        "trainer",
        "prefetch",
        "--cache-dir",
        opts.cacheDir,
        "--model",
        opts.model,
        "--endpoint",
        opts.hubUrl,
      ],
      ...(opts.chunkBytes ? ["--chunk-bytes", String(opts.chunkBytes)] : []),
    ],
    cwd: opts.trainerRoot,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const readStdout = async () => {
    let buffered = "";
    for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffered += text;
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        const parsed = line.trim() ? PrefetchEvent.safeParse(safeJson(line)) : null;
        if (parsed?.success) onEvent(parsed.data);
      }
    }
  };
  const readStderr = async () => {
    let tail = "";
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
      tail = (tail + text).slice(-2_000);
    }
    return tail;
  };
  const done = Promise.all([readStdout(), readStderr(), child.status])
    .then(([, stderr, status]) => ({ code: status.code, stderr }));
  return {
    done,
    stop: () => {
      try {
        child.kill("SIGTERM");
      } catch { /* already ended */ }
    },
  };
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return null;
  }
}
