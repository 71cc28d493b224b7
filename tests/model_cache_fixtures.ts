/**
 * For the base-model cache tests: a tiny Llama built from a config (trainer/tiny.py) published as a model
 * repo on the local Hub with the real `@huggingface/hub` client, and `python -m trainer prefetch` run as
 * a subprocess whose events are parsed with the miner's own schema.
 */
import { createRepo, uploadFiles } from "@huggingface/hub";
import { buildTiny } from "../local/local_network.ts";
import type { HubServer } from "../local/hub_server.ts";
import { PrefetchEvent } from "../core/model_cache.ts";

export const REPO = new URL("..", import.meta.url).pathname;
export const PYTHON = `${REPO}.venv/bin/python`;
const dec = new TextDecoder();

let tiny: Promise<string> | null = null;

/** The tiny text model's folder, built once per test process. */
export function tinyModelDir(): Promise<string> {
  tiny ??= Deno.makeTempDir({ prefix: "cache-tiny-" }).then(async (dir) =>
    (await buildTiny(PYTHON, "text", dir)).model
  );
  return tiny;
}

/** Publishes the tiny model's files as `repo` (created under the Hub's user) and returns the commit. */
export async function publishTiny(server: HubServer, repo: string): Promise<string> {
  const dir = await tinyModelDir();
  const files = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile) files.push({ path: e.name, content: new Blob([await Deno.readFile(`${dir}/${e.name}`)]) });
  }
  const auth = { hubUrl: server.url, accessToken: server.hub.token };
  await createRepo({ repo, ...auth });
  const out = await uploadFiles({ repo, ...auth, useXet: false, files });
  if (!out) throw new Error(`Cannot publish ${repo}: the upload made no commit`);
  return out.commit.oid;
}

export type PrefetchResult = { code: number; events: PrefetchEvent[]; stderr: string };

/** Spawns `python -m trainer prefetch`; `onEvent` sees each event as it arrives. */
export function spawnPrefetch(
  server: HubServer,
  cacheDir: string,
  models: string[],
  opts: {
    token?: string;
    chunkBytes?: number;
    onEvent?: (e: PrefetchEvent, child: Deno.ChildProcess) => void;
  } = {},
): { child: Deno.ChildProcess; done: Promise<PrefetchResult> } {
  const child = new Deno.Command(PYTHON, {
    args: ["-m", "trainer", "prefetch", "--cache-dir", cacheDir, ...models.flatMap((m) => ["--model", m])]
      .concat(["--endpoint", server.url, "--chunk-bytes", String(opts.chunkBytes ?? 16_384)]),
    cwd: REPO,
    env: { HF_TOKEN: opts.token ?? server.hub.token, PYTHONUNBUFFERED: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const events: PrefetchEvent[] = [];
  const readOut = async () => {
    let buf = "";
    for await (const chunk of child.stdout) {
      buf += dec.decode(chunk, { stream: true });
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const line of lines.filter((l) => l.trim())) {
        const e = PrefetchEvent.parse(JSON.parse(line)); // the miner's schema: a drift fails here
        events.push(e);
        opts.onEvent?.(e, child);
      }
    }
  };
  const readErr = async () => {
    let text = "";
    for await (const chunk of child.stderr) text += dec.decode(chunk);
    return text;
  };
  const done = Promise.all([readOut(), readErr(), child.status]).then(([, stderr, s]) => ({
    code: s.code,
    events,
    stderr,
  }));
  return { child, done };
}

/** Resolve GETs of `path` the Hub answered, with their statuses (206: a range, i.e. a resume). */
export function fileGets(server: HubServer, repo: string, path: string): number[] {
  return server.hub.requests.filter((r) =>
    r.method === "GET" && r.route === "resolve" && r.path.startsWith(`/${repo}/resolve/`) &&
    r.path.endsWith(`/${path}`)
  ).map((r) => r.status);
}

export async function sha256Hex(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
