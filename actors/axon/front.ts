/**
 * The axon's TCP front: it accepts validators' connections itself, refuses those past a cap, holds each
 * request's headers and body to deadlines, and relays the bytes to Deno.serve on a loopback port, where
 * the handler (handler.ts) runs. Why a front and not Deno.serve alone (Deno 2.9):
 * - Deno.serve has no header, body or idle deadline and no connection cap (hyper runs there without a
 *   timer, so its header timeout is inert). A connection that never finishes its headers never reaches
 *   JS, so it cannot even be counted; and cancelling a stalled body in the handler does not close the
 *   connection: hyper keeps waiting for the rest (tried).
 * - Deno.serveHttp, which served a connection we had accepted, is soft-removed in Deno 2, and
 *   `serveHttpOnConnection` is internal.
 * - node:http has the deadlines built in, but turning its messages into fetch Requests and back cost
 *   a third of the axon's throughput (signed TaskStatus, 2 cores: 2 100 → 1 400 req/s); this relay
 *   costs within the noise of that measurement (bench/axon.ts: 2 070 → 2 020 req/s).
 * The front only frames requests (framing.ts: where headers and bodies end), never parses them. A
 * deadline closes both sockets, with no reply (the client stopped listening, or never finished asking);
 * the handler then sees its body read fail and counts the request as aborted. Each open connection
 * costs three descriptors: the client's and both ends of the relay.
 */
import type { Logger } from "@logtape/logtape";
import type { AxonHandler } from "./handler.ts";
import { RequestFraming } from "./framing.ts";

export interface FrontLimits {
  /** Open connections at most; one more is answered 503 and closed as soon as it is accepted. */
  readonly maxConnections: number;
  /** From a connection's opening (first request) or a request's first byte to the end of its headers. */
  readonly headerTimeoutMs: number;
  /** From the end of a request's headers to the end of its body. */
  readonly bodyTimeoutMs: number;
  /** A kept-alive connection with no request in flight, from its last byte either way. */
  readonly idleTimeoutMs: number;
}

export interface FrontCounters {
  /** Connections open now. */
  open: number;
  /** Connections refused because `maxConnections` were open. */
  refused: number;
  /** Connections closed by a header, body or idle deadline. */
  timedOut: number;
}

export interface AxonServer {
  readonly addr: { readonly hostname: string; readonly port: number };
  readonly counters: Readonly<FrontCounters>;
  /** Stops accepting, lets requests in flight finish for up to `graceMs`, then closes every connection. */
  shutdown(graceMs?: number): Promise<void>;
}

export interface FrontOptions {
  readonly hostname: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly limits: FrontLimits;
}

type Peer = { readonly hostname: string; readonly port: number };

/** One client connection and its relay to the inner server. */
interface Link {
  readonly client: Deno.TcpConn;
  upstream: Deno.TcpConn | null;
  readonly peer: Peer;
  readonly framing: RequestFraming;
  readonly openedAt: number;
  /** When the current head or body phase began. */
  phaseAt: number;
  lastActivity: number;
  /** Handler calls in flight for this connection: an idle connection awaiting its reply is not idle. */
  busy: number;
  closed: boolean;
}

const RELAY_BUFFER_BYTES = 16 * 1024;
const encoder = new TextEncoder();
const REFUSED = rawReply(503, "Service Unavailable", "Too many connections", "retry-after: 1\r\n");

/** Binds `opts.hostname:opts.port` (throws if it cannot) and serves `handler` behind the front. */
export function serveAxon(opts: FrontOptions, handler: AxonHandler, log: Logger): AxonServer {
  const { limits } = opts;
  const counters: FrontCounters = { open: 0, refused: 0, timedOut: 0 };
  const links = new Set<Link>();
  /** By the local port of the relay's socket: how the inner server knows whose request it has. */
  const byRelayPort = new Map<number, Link>();
  const tasks = new Set<Promise<void>>();
  const track = (p: Promise<void>) => {
    tasks.add(p);
    p.finally(() => tasks.delete(p));
  };

  const listener = Deno.listen({ hostname: opts.hostname, port: opts.port });
  const inner = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
    onError: (error) => {
      // The handler answers every failure itself; this is Deno's last resort, still JSON.
      log.error("Axon server error: {error}", { error });
      return Response.json({ message: "Internal Server Error" }, { status: 500 });
    },
  }, async (req, info) => {
    const link = byRelayPort.get(info.remoteAddr.port);
    // A local process that connected to the loopback port directly, around the front's limits.
    if (link === undefined) return Response.json({ message: "Forbidden" }, { status: 403 });
    link.busy++;
    try {
      return await handler(req, { remoteAddr: link.peer });
    } finally {
      link.busy--;
      link.lastActivity = Date.now();
    }
  });

  const close = (link: Link) => {
    if (link.closed) return;
    link.closed = true;
    closeQuietly(link.client);
    if (link.upstream) closeQuietly(link.upstream);
  };

  const relay = async (link: Link) => {
    try {
      const upstream = await Deno.connect({ hostname: "127.0.0.1", port: inner.addr.port });
      link.upstream = upstream;
      if (link.closed) return closeQuietly(upstream);
      byRelayPort.set(upstream.localAddr.port, link);
      link.client.setNoDelay(true);
      upstream.setNoDelay(true);
      await Promise.all([clientToServer(link, upstream, log), serverToClient(link, upstream)]);
    } catch {
      // A socket closed under a pending read or write: the link is over either way.
    } finally {
      close(link);
      if (link.upstream) byRelayPort.delete(link.upstream.localAddr.port);
      links.delete(link);
      counters.open = links.size;
    }
  };

  const accepting = (async () => {
    while (true) {
      let client: Deno.TcpConn;
      try {
        client = await listener.accept();
      } catch (error) {
        if (error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted) return;
        // Out of descriptors (EMFILE) and the like: keep the door, retry shortly.
        log.warn("Axon cannot accept a connection: {error}", { error });
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      if (links.size >= limits.maxConnections) {
        counters.refused++;
        log.debug("Axon refused a connection from {ip}: {open} open", {
          ip: client.remoteAddr.hostname,
          open: links.size,
        });
        track(client.write(REFUSED).then(() => {}, () => {}).finally(() => closeQuietly(client)));
        continue;
      }
      const now = Date.now();
      const { hostname, port } = client.remoteAddr;
      const link: Link = {
        client,
        upstream: null,
        peer: { hostname, port },
        framing: new RequestFraming(),
        openedAt: now,
        phaseAt: now,
        lastActivity: now,
        busy: 0,
        closed: false,
      };
      links.add(link);
      counters.open = links.size;
      track(relay(link));
    }
  })();

  const deadlineOf = (link: Link): number => {
    switch (link.framing.phase) {
      case "head":
        return link.phaseAt + limits.headerTimeoutMs;
      case "body":
        return link.phaseAt + limits.bodyTimeoutMs;
      default:
        if (link.busy > 0) return Infinity;
        // A new connection owes its first request's headers; a kept-alive one may rest longer.
        return link.lastActivity +
          (link.framing.started === 0 ? limits.headerTimeoutMs : limits.idleTimeoutMs);
    }
  };
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const link of links) {
      if (link.closed || now < deadlineOf(link)) continue;
      counters.timedOut++;
      log.debug("Axon closed a connection from {ip}: no progress in its {phase} phase", {
        ip: link.peer.hostname,
        phase: link.framing.phase,
      });
      close(link);
    }
  }, checkEveryMs(limits));

  return {
    addr: { hostname: (listener.addr as Deno.NetAddr).hostname, port: (listener.addr as Deno.NetAddr).port },
    counters,
    shutdown: async (graceMs = 1_500) => {
      closeQuietly(listener);
      await accepting;
      const force = setTimeout(() => links.forEach(close), graceMs);
      // Graceful: requests in flight finish, idle kept-alive connections close (their relays end).
      await inner.shutdown();
      clearTimeout(force);
      links.forEach(close);
      await Promise.all(tasks);
      clearInterval(sweep);
    },
  };
}

/** Client bytes to the server, through the framing; a deadline starts at each phase. */
async function clientToServer(link: Link, upstream: Deno.TcpConn, log: Logger): Promise<void> {
  const buf = new Uint8Array(RELAY_BUFFER_BYTES);
  while (true) {
    const n = await link.client.read(buf);
    if (n === null) {
      // Half-close: the reply may still come; the server ends the link when it closes.
      await upstream.closeWrite().catch(() => {});
      return;
    }
    const chunk = buf.subarray(0, n);
    const { framing } = link;
    const [phase, started] = [framing.phase, framing.started];
    framing.feed(chunk);
    const now = Date.now();
    link.lastActivity = now;
    if (framing.phase === "invalid") {
      const { status, message } = framing.problem!;
      log.debug("Axon closed a connection from {ip}: {message}", { ip: link.peer.hostname, message });
      await link.client.write(
        rawReply(status, status === 431 ? "Request Header Fields Too Large" : "Bad Request", message),
      )
        .catch(() => {});
      throw new Error(message);
    }
    if (framing.phase === "head" && (framing.started !== started || phase !== "head")) {
      link.phaseAt = framing.started === 1 ? link.openedAt : now;
    } else if (framing.phase === "body" && (framing.started !== started || phase !== "body")) {
      link.phaseAt = now;
    }
    await writeAll(upstream, chunk);
  }
}

/** Server bytes to the client; the server closing ends the link. */
async function serverToClient(link: Link, upstream: Deno.TcpConn): Promise<void> {
  const buf = new Uint8Array(RELAY_BUFFER_BYTES);
  while (true) {
    const n = await upstream.read(buf);
    if (n === null) throw new Error("closed by the server");
    link.lastActivity = Date.now();
    await writeAll(link.client, buf.subarray(0, n));
    link.lastActivity = Date.now();
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

function closeQuietly(c: { close(): void }): void {
  try {
    c.close();
  } catch {
    // already closed
  }
}

// Deadlines are checked on an interval, not a timer per socket: a few checks per deadline keeps the
// overshoot small without waking often when deadlines are seconds long.
function checkEveryMs(l: FrontLimits): number {
  const shortest = Math.min(l.headerTimeoutMs, l.bodyTimeoutMs, l.idleTimeoutMs);
  return Math.max(10, Math.min(1_000, Math.floor(shortest / 4)));
}

/** A whole HTTP/1.1 reply for a connection the front ends itself: JSON like every other refusal. */
function rawReply(status: number, reason: string, message: string, extra = ""): Uint8Array {
  const body = JSON.stringify({ message });
  return encoder.encode(
    `HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-type: application/json\r\n${extra}` +
      `content-length: ${body.length}\r\n\r\n${body}`,
  );
}
