/**
 * An HTTP client that connects to one address we already checked, whatever the URL's name would
 * resolve to by the time the request goes out. Checking a name and then letting fetch resolve it
 * again leaves a window (DNS rebinding: first answer public, second answer 127.0.0.1), so the
 * socket must go to the checked address itself.
 *
 * Why this way: fetching `http://<ip>/` with a Host header breaks https (TLS would check the
 * certificate against the IP), and Deno.createHttpClient has no resolver hook. Its proxy option
 * does the job while the URL keeps its name, so TLS (SNI, certificate) and the Host header stay right:
 * - http: `transport: "tcp"` sends the plain request straight to the checked address;
 * - https: `transport: "http"` to a CONNECT tunnel of ours on 127.0.0.1, which opens its own socket
 *   to the checked address and pipes bytes; TLS runs end to end through it, checked against the name.
 * One client (and tunnel) per request hop; `close()` ends both. A client with an explicit proxy
 * ignores HTTP(S)_PROXY, so downloads go direct even where the env names a proxy.
 */
import { unbracket } from "./address.ts";

export interface PinnedClient {
  client: Deno.HttpClient;
  close(): void;
}

/**
 * A client for `url` whose every connection goes to `address` (IPv4 or IPv6 text) on the URL's
 * port. `caCerts` adds trusted roots (tests: a local CA), as in Deno.createHttpClient.
 */
export function pinnedClient(url: URL, address: string, caCerts?: string[]): PinnedClient {
  const ip = unbracket(address);
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  if (url.protocol === "http:") {
    const hostname = ip.includes(":") ? `[${ip}]` : ip; // the tcp transport parses a URI authority
    const client = Deno.createHttpClient({ proxy: { transport: "tcp", hostname, port } });
    return { client, close: () => client.close() };
  }
  const tunnel = openTunnel(`${url.hostname}:${port}`, { hostname: ip, port });
  const proxy = { transport: "http" as const, url: `http://127.0.0.1:${tunnel.port}` };
  const client = Deno.createHttpClient({ proxy, ...(caCerts && { caCerts }) });
  return {
    client,
    close: () => {
      client.close();
      tunnel.close();
    },
  };
}

const HEAD_LIMIT = 8 * 1024;

export interface Tunnel {
  port: number;
  close(): void;
}

/**
 * A CONNECT proxy on 127.0.0.1 that only ever connects to `target`, and only for a CONNECT naming
 * `authority` (the URL's host:port); anything else is answered 403 and closed.
 */
export function openTunnel(authority: string, target: Deno.ConnectOptions): Tunnel {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const serve = async (conn: Deno.Conn) => {
    open.add(conn);
    let upstream: Deno.Conn | null = null;
    try {
      const head = await readHead(conn);
      const line = head?.split("\r\n", 1)[0] ?? "";
      if (line.toLowerCase() !== `connect ${authority.toLowerCase()} http/1.1`) {
        await conn.write(new TextEncoder().encode("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n"));
        return;
      }
      upstream = await Deno.connect(target);
      open.add(upstream);
      await conn.write(new TextEncoder().encode("HTTP/1.1 200 Connection established\r\n\r\n"));
      await Promise.all([
        conn.readable.pipeTo(upstream.writable),
        upstream.readable.pipeTo(conn.writable),
      ]);
    } catch {
      // A refused connect, a reset or our own close: fetch sees the socket end and reports it.
    } finally {
      for (const c of [conn, upstream]) {
        if (c && open.delete(c)) tryClose(c);
      }
    }
  };
  // Accepts until close(); the tunnel lives no longer than the request hop that owns it.
  void (async () => {
    try {
      for await (const conn of listener) void serve(conn);
    } catch {
      // closed
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    close: () => {
      tryClose(listener);
      for (const c of open) tryClose(c);
      open.clear();
    },
  };
}

/** The request head (up to the blank line), or null when the peer sent too much or closed first. */
async function readHead(conn: Deno.Conn): Promise<string | null> {
  const buf = new Uint8Array(HEAD_LIMIT);
  let got = 0;
  while (got < buf.length) {
    const n = await conn.read(buf.subarray(got));
    if (n === null) return null;
    got += n;
    const text = new TextDecoder().decode(buf.subarray(0, got));
    if (text.includes("\r\n\r\n")) return text;
  }
  return null;
}

function tryClose(c: { close(): void }): void {
  try {
    c.close();
  } catch {
    // already closed
  }
}
