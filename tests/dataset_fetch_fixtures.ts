/**
 * For the dataset fetch tests: a fetch that records every request (and never reaches the network
 * for names the test made up), a counting server on 127.0.0.x, and a prepareDatasetDir run that
 * must fail with a DatasetError.
 */
import { DatasetError, DEFAULT_LIMITS } from "../actors/task_center/dataset/limits.ts";
import { prepareDatasetDir } from "../actors/task_center/dataset/prepare.ts";
import { DatasetSource } from "../core/task.ts";
import { rejection, sha256 } from "./task_center_fixtures.ts";

export interface Call {
  url: string;
  authorization: string | null;
  pinned: boolean;
}

const loopback = (url: URL) => /^127\.0\.0\.\d+$/.test(url.hostname);

/** Records every request; `real` ones go to the real fetch, the rest get `answer` (never the network). */
export function recordingFetch(
  calls: Call[],
  answer: (url: URL) => Response = () => new Response("secret"),
  real = loopback,
): typeof fetch {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const authorization = new Headers(init?.headers).get("authorization");
    const pinned = init !== undefined && "client" in init && init.client !== undefined;
    calls.push({ url: url.href, authorization, pinned });
    return real(url) ? fetch(input, init) : Promise.resolve(answer(url));
  };
}

/** A server on `hostname` that counts requests and answers with `handler`. */
export function serve(handler: (req: Request) => Response | Promise<Response>, hostname = "127.0.0.1") {
  const requests: { host: string | null; path: string }[] = [];
  const server = Deno.serve({ hostname, port: 0, onListen: () => {} }, (req) => {
    requests.push({ host: req.headers.get("host"), path: new URL(req.url).pathname });
    return handler(req);
  });
  return { url: `http://${hostname}:${server.addr.port}`, requests, close: () => server.shutdown() };
}

/** Runs prepareDatasetDir in a fresh data dir; returns the DatasetError it must fail with. */
export async function refusal(source: unknown, deps: Record<string, unknown>): Promise<DatasetError> {
  const dataDir = await Deno.makeTempDir({ prefix: "fetch_safety_" });
  try {
    const full = { dataDir, hubUrl: "http://hub.invalid", limits: DEFAULT_LIMITS, ...deps };
    return await rejection(
      () => prepareDatasetDir("t-1", DatasetSource.parse(source), full as never),
      DatasetError,
    );
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

export const urlSource = (url: string, body: Uint8Array | string = "", max_bytes?: number) => ({
  kind: "url",
  url,
  sha256: sha256(body),
  max_bytes,
});
