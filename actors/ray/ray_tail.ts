/**
 * Follows a Ray job's log over the Jobs API WebSocket (`/api/jobs/{id}/logs/tail`): Ray sends text frames
 * (chunks, not lines) and closes a few seconds after the job ends. A handshake Ray refuses or never
 * completes is a RayError like any other call's; an abort just ends the stream.
 */
import { authHeaders, type Ctx, RayError, scrub, short } from "./ray_http.ts";

/** Yields the log's chunks from `path` until Ray closes the socket or `signal` aborts. */
export async function* tail(
  ctx: Ctx,
  path: string,
  action: string,
  signal?: AbortSignal,
): AsyncGenerator<string> {
  const fail = (cause: string, status: number | null) =>
    new RayError(scrub(ctx, `Cannot ${action} (WebSocket ${path}): Ray at ${ctx.address} ${cause}`), status);
  if (signal?.aborted) return;
  const ws = new WebSocket(ctx.address.replace(/^http/, "ws") + path, { headers: authHeaders(ctx) });
  ws.binaryType = "arraybuffer";
  const decoder = new TextDecoder();
  const chunks: string[] = [];
  let opened = false;
  let closed = false;
  let failure: RayError | null = null;
  let wake = () => {};
  const connectTimer = setTimeout(() => {
    failure = fail(`did not accept the connection within ${ctx.timeoutMs} ms`, null);
    ws.close();
    wake();
  }, ctx.timeoutMs);
  ws.onopen = () => {
    opened = true;
    clearTimeout(connectTimer);
  };
  ws.onmessage = (e) => {
    chunks.push(
      typeof e.data === "string" ? e.data : decoder.decode(new Uint8Array(e.data), { stream: true }),
    );
    wake();
  };
  ws.onerror = (e) => {
    // Deno reports a refused handshake as "... Invalid status code: 404".
    const message = e instanceof ErrorEvent ? e.message : "connection error";
    const status = Number(/status code:? (\d{3})/i.exec(message)?.[1]) || null;
    failure ??= opened
      ? fail(`broke the log stream: ${short(message)}`, null)
      : status === 401 || status === 403
      ? fail(`refused the token (HTTP ${status}): check cluster.ray.token or RAY_AUTH_TOKEN`, status)
      : fail(status ? `answered HTTP ${status}` : `is unreachable: ${short(message)}`, status);
    wake();
  };
  ws.onclose = () => {
    closed = true;
    clearTimeout(connectTimer);
    wake();
  };
  const onAbort = () => wake();
  signal?.addEventListener("abort", onAbort);
  try {
    while (!signal?.aborted) {
      if (chunks.length > 0) yield chunks.shift()!;
      else if (failure) throw failure;
      else if (closed) return;
      else await new Promise<void>((resolve) => wake = resolve);
    }
  } finally {
    clearTimeout(connectTimer);
    signal?.removeEventListener("abort", onAbort);
    if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close();
  }
}
