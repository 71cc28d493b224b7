/**
 * A real Subtensor runtime for tests: chopsticks 1.5.1 building blocks from the raonet genesis (runtime
 * spec 218) on 127.0.0.1, driven through its dev RPCs; and a TCP proxy in front of it whose pause and
 * resume stand in for a node going away and coming back on the same port (the chain keeps its state).
 * Start one chain per test file: it takes ~5 s and ~300 MB.
 */
import { ApiPromise, Keyring, WsProvider } from "@polkadot/api";
import type { SubmittableExtrinsic } from "@polkadot/api/types";
import type { KeyringPair } from "@polkadot/keyring/types";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { SUBTENSOR_EXTENSIONS } from "../actors/chain/chain_client.ts";

export const CHOPSTICKS = "npm:@acala-network/chopsticks@1.5.1";
/** `<repo>/../shared/chain/raonet.json`: shared data, never copied into the repo. */
export const RAONET_GENESIS = new URL("../../shared/chain/raonet.json", import.meta.url).pathname;
const TAO = 1_000_000_000n;

export interface Chopsticks extends AsyncDisposable {
  port: number;
  endpoint: string;
  /** JSON-RPC over HTTP (chopsticks serves HTTP and WebSocket on one port). */
  rpc<T = unknown>(method: string, params?: unknown[]): Promise<T>;
  newBlocks(count?: number): Promise<void>;
  /** `dev_setStorage` with `{ Pallet: { Item: value | [[keys, value], ...] } }`. */
  setStorage(values: Record<string, Record<string, unknown>>): Promise<void>;
  /** The last lines chopsticks printed, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (closed again, so a child can bind it). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * Starts chopsticks and resolves once its RPC answers; rejects with its output when it does not. The
 * first run on a machine downloads it into Deno's npm cache (~280 MB), hence the generous timeout;
 * `deno run -A --no-config --no-lock npm:@acala-network/chopsticks@1.5.1 --help` warms that cache.
 */
export async function startChopsticks(
  { port = freePort(), mode = "Instant", timeoutMs = 180_000, genesis = RAONET_GENESIS }: {
    port?: number;
    /** A Subtensor chain spec (raw genesis); default the shared raonet spec. */
    genesis?: string;
    mode?: "Instant" | "Manual" | "Batch";
    timeoutMs?: number;
  } = {},
): Promise<Chopsticks> {
  const cwd = await Deno.makeTempDir({ prefix: "chopsticks-" });
  // --no-config / --no-lock: chopsticks is a tool run from the npm cache, not a dependency of the miner.
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--no-config",
      "--no-lock",
      CHOPSTICKS,
      "--genesis",
      genesis,
      "--host",
      "127.0.0.1",
    ]
      .concat(["--port", String(port), "--build-block-mode", mode]),
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", LOG_LEVEL: "warn" },
  }).spawn();
  const lines: string[] = [];
  const drain = (stream: ReadableStream<Uint8Array>) =>
    (async () => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        lines.push(...chunk.split("\n"));
        if (lines.length > 200) lines.splice(0, lines.length - 200);
      }
    })();
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  const endpoint = `ws://127.0.0.1:${port}`;
  const rpc = async <T>(method: string, params: unknown[] = []): Promise<T> => {
    const res = await fetch(`http://127.0.0.1:${port}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    });
    const body = await res.json();
    if (body.error) throw new Error(`Chopsticks ${method} failed: ${JSON.stringify(body.error)}`);
    return body.result as T;
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
    await drained;
    await Deno.remove(cwd, { recursive: true }).catch(() => {});
  };
  const output = () => lines.filter((l) => l.trim()).slice(-40).join("\n");
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  child.status.then(() => (exited = true));
  for (;;) {
    const ready = await rpc("chain_getHeader").then(() => true, () => false);
    if (ready) break;
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`Chopsticks did not start on port ${port} within ${timeoutMs} ms:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    port,
    endpoint,
    rpc,
    newBlocks: async (count = 1) => void (await rpc("dev_newBlock", [{ count }])),
    setStorage: async (values) => void (await rpc("dev_setStorage", [values])),
    output,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** A polkadot-js client for the test's own chain calls; disconnect it at the end. */
export async function connectApi(endpoint: string): Promise<ApiPromise> {
  await cryptoWaitReady();
  return await ApiPromise.create({
    provider: new WsProvider(endpoint),
    noInitWarn: true,
    signedExtensions: SUBTENSOR_EXTENSIONS,
  });
}

/** //Alice as coldkey: made Sudo and given 1e6 TAO, so it can pay registrations. */
export async function fundAlice(chain: Chopsticks): Promise<KeyringPair> {
  await cryptoWaitReady();
  const alice = new Keyring({ type: "sr25519", ss58Format: 42 }).addFromUri("//Alice");
  await chain.setStorage({
    Sudo: { Key: alice.address },
    System: { Account: [[[alice.address], { providers: 1, data: { free: String(1_000_000n * TAO) } }]] },
  });
  return alice;
}

/**
 * Submits `tx` signed by `signer` and resolves with its events once in a block and that block is the head.
 * The nonce is read explicitly: polkadot-js' derived (cached) nonce lags behind chopsticks' instant blocks.
 * Immortal (era 0): `dev_setStorage` re-hashes the head, so a mortal era's birth block may no longer exist
 * and the signature would not verify (BadProof).
 */
export async function submit(
  api: ApiPromise,
  tx: SubmittableExtrinsic<"promise">,
  signer: KeyringPair,
): Promise<string[]> {
  const nonce = await api.rpc.system.accountNextIndex(signer.address);
  return await new Promise((resolve, reject) => {
    let unsub: (() => void) | undefined;
    let done = false;
    tx.signAndSend(signer, { nonce, era: 0 }, ({ status, events, dispatchError }) => {
      if (!status.isInBlock || done) return;
      done = true;
      unsub?.();
      if (dispatchError) {
        const meta = dispatchError.isModule ? api.registry.findMetaError(dispatchError.asModule) : null;
        return reject(
          new Error(`Extrinsic failed: ${meta ? `${meta.section}.${meta.name}` : dispatchError}`),
        );
      }
      const names = events.map(({ event }) => `${event.section}.${event.method}`);
      untilHead(api, status.asInBlock.toHex()).then(() => resolve(names), reject);
    }).then((u) => (done ? u() : (unsub = u)), reject);
  });
}

/** Waits until the best block is `hash` (or later). */
export async function untilHead(api: ApiPromise, hash: string, timeoutMs = 10_000): Promise<void> {
  const target = (await api.rpc.chain.getHeader(hash)).number.toNumber();
  const deadline = Date.now() + timeoutMs;
  while ((await api.rpc.chain.getHeader()).number.toNumber() < target) {
    if (Date.now() > deadline) throw new Error(`Head did not reach block ${target} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `burned_register(netuid, hotkey)` paid by `coldkey`; resolves with the hotkey's uid. */
export async function registerHotkey(
  api: ApiPromise,
  coldkey: KeyringPair,
  netuid: number,
  hotkey: string,
): Promise<number> {
  await submit(api, api.tx.subtensorModule.burnedRegister(netuid, hotkey), coldkey);
  const uid = await api.query.subtensorModule.uids(netuid, hotkey);
  return Number(uid.toString());
}

/**
 * Fakes validator facts through storage: total alpha stake (in TAO) and the permit column by uid. The
 * runtime keeps running epochs (they recompute permits and add emission to stakes within a few blocks, a
 * tempo notwithstanding), so assert stakes as lower bounds.
 */
export async function setValidators(
  chain: Chopsticks,
  netuid: number,
  stakes: { hotkey: string; stakeTao: bigint }[],
  permits: boolean[],
): Promise<void> {
  await chain.setStorage({
    SubtensorModule: {
      TotalHotkeyAlpha: stakes.map((s) => [[s.hotkey, netuid], String(s.stakeTao * TAO)]),
      ValidatorPermit: [[[netuid], permits]],
    },
  });
}

export interface TcpProxy extends AsyncDisposable {
  port: number;
  endpoint: string;
  /** Closes the listener and every open connection: the node looks gone (connections refused). */
  pause(): Promise<void>;
  /** Listens again on the same port. */
  resume(): void;
}

/** Forwards 127.0.0.1:<port> to `targetPort`; pause/resume simulate an outage without losing chain state. */
export function startTcpProxy(targetPort: number): TcpProxy {
  const port = freePort();
  let listener: Deno.Listener | null = null;
  let serving: Promise<void> = Promise.resolve();
  const conns = new Set<Deno.Conn>();
  const pipes = new Set<Promise<void>>();
  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    try {
      await from.readable.pipeTo(to.writable);
    } catch { /* either side closed */ }
    for (const c of [from, to]) {
      if (conns.delete(c)) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    }
  };
  const accept = async (l: Deno.Listener) => {
    for await (const client of l) {
      const upstream = await Deno.connect({ hostname: "127.0.0.1", port: targetPort }).catch(() => null);
      if (!upstream) {
        client.close();
        continue;
      }
      conns.add(client).add(upstream);
      for (const p of [pipe(client, upstream), pipe(upstream, client)]) {
        pipes.add(p);
        p.finally(() => pipes.delete(p));
      }
    }
  };
  const resume = () => {
    listener = Deno.listen({ hostname: "127.0.0.1", port });
    serving = accept(listener).catch(() => {});
  };
  const pause = async () => {
    listener?.close();
    listener = null;
    await serving;
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    conns.clear();
    await Promise.all([...pipes]);
  };
  resume();
  return { port, endpoint: `ws://127.0.0.1:${port}`, pause, resume, [Symbol.asyncDispose]: pause };
}
