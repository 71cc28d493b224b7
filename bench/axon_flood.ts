/**
 * bench/axon_flood: the axon's resident memory (RSS) before and after a flood on a real socket, with the
 * axon in its own process at the config's defaults (rate limit, connection cap), deadlines shortened
 * so the stalled connections end within the run. The flood: `requests` signed requests, each from a
 * fresh dendrite (new uuid: a new nonce-store key) of one of `hotkeys` unregistered keypairs pinging
 * `Synapse` (anyone may, so each verified one adds nonce, rate-bucket and signature entries) and the
 * validator asking TaskStatus (rate-limited past its burst); meanwhile `stalled` connections send
 * headers and part of a body, then nothing. RSS is read after a full GC, so it counts what is held,
 * not garbage not yet collected. Prints the figures; asserts nothing.
 *
 *   deno run -A bench/axon_flood.ts [requests=10000] [stalled=1000] [hotkeys=500] [30 s settle samples=0]
 */
import { sr25519KeypairFromSeed, sr25519Sign, waitReady } from "@polkadot/wasm-crypto";
import { stringToU8a, u8aToHex } from "@polkadot/util";
import { encodeAddress } from "@polkadot/util-crypto";
import { startAxonActor } from "../actors/axon/axon_actor.ts";
import { axonStats } from "../actors/protocol.ts";
import { type AxonTarget, createDendrite, type DendriteOptions } from "../local/dendrite.ts";
import {
  FakeMiner,
  MINER_PHRASE,
  VALIDATOR_FACTS,
  VALIDATOR_PHRASE,
  walletFrom,
} from "../tests/axon_fixtures.ts";

const DEADLINE_MS = 2_000;

/** The axon in this process; each stdin line asks for a sample, answered as one JSON line. */
async function serve(): Promise<void> {
  const wallet = await walletFrom(MINER_PHRASE);
  const validator = await walletFrom(VALIDATOR_PHRASE);
  const miner = new FakeMiner();
  miner.facts.set(validator.hotkey.ss58, VALIDATOR_FACTS);
  const axon = startAxonActor(
    {
      ip: "127.0.0.1",
      port: 0,
      maxBodyBytes: 1 << 20,
      minStakeTao: 1_000,
      limits: { headerTimeoutMs: DEADLINE_MS, bodyTimeoutMs: DEADLINE_MS },
    },
    {
      wallet,
      lookup: (h) => miner.lookup(h),
      acceptTask: (r, v) => miner.acceptTask(r, v),
      taskStatus: () => null,
      capacity: () => miner.capacity(),
    },
  );
  console.log(JSON.stringify({ port: (await axonStats(axon)).address.port }));
  const gc = (globalThis as { gc?: () => void }).gc;
  for await (const _ of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    gc?.();
    gc?.();
    const { rss, heapTotal, heapUsed, external } = Deno.memoryUsage();
    console.log(JSON.stringify({ rss, heapTotal, heapUsed, external, stats: await axonStats(axon) }));
  }
  await axon.stop();
}

type Sample = {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  stats: Record<string, unknown>;
};

async function start() {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", new URL(import.meta.url).pathname, "--serve"],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(lines()).getReader();
  const first = await reader.read();
  if (first.done) throw new Error("bench axon server exited before serving");
  const writer = child.stdin.getWriter();
  return {
    port: (JSON.parse(first.value) as { port: number }).port,
    sample: async (): Promise<Sample> => {
      await writer.write(new TextEncoder().encode("sample\n"));
      const { value } = await reader.read();
      return JSON.parse(value!) as Sample;
    },
    stop: async () => {
      await writer.close();
      await reader.cancel();
      await child.status;
    },
  };
}

function lines(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, out) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const p of parts) if (p !== "") out.enqueue(p);
    },
  });
}

/** An unregistered sr25519 hotkey, as cheap to make as an attacker finds it. */
function keypair(i: number): DendriteOptions["wallet"] {
  const seed = new Uint8Array(32);
  new DataView(seed.buffer).setUint32(0, i + 1);
  const pair = sr25519KeypairFromSeed(seed);
  const [secret, pub] = [pair.slice(0, 64), pair.slice(64)];
  return {
    hotkey: { ss58: encodeAddress(pub, 42) },
    sign: (m) => u8aToHex(sr25519Sign(pub, secret, stringToU8a(m))),
  };
}

async function flood(target: AxonTarget, requests: number, hotkeys: number) {
  await waitReady();
  const validator = await walletFrom(VALIDATOR_PHRASE);
  const keys = Array.from({ length: hotkeys }, (_, i) => keypair(i));
  const prepared = Array.from(
    { length: requests },
    (_, i) =>
      i % 10 === 0
        ? createDendrite({ wallet: validator }).prepare(target, "TaskStatus", { task_id: `t-${i}` })
        : createDendrite({ wallet: keys[i % hotkeys] }).prepare(target, "Synapse"),
  );
  const statuses = new Map<number, number>();
  let next = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < prepared.length) {
      const p = prepared[next++];
      const res = await fetch(p.url, { method: "POST", headers: p.headers, body: p.body })
        .then(async (r) => (await r.arrayBuffer(), r.status), () => 0);
      statuses.set(res, (statuses.get(res) ?? 0) + 1);
    }
  }));
  return Object.fromEntries(statuses);
}

async function stall(port: number, count: number): Promise<Deno.TcpConn[]> {
  const head = new TextEncoder().encode(
    'POST /TaskStatus HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 1000\r\n\r\n{"task_id": "t-',
  );
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < count; i++) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      await c.write(head).catch(() => 0);
      conns.push(c);
    } catch {
      // refused by the kernel's backlog: counts as stalled all the same for the axon
    }
  }
  return conns;
}

const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`;

export async function benchAxonFlood(
  requests = 10_000,
  stalled = 1_000,
  hotkeys = 500,
  settleChecks = 0,
): Promise<void> {
  const server = await start();
  try {
    const miner = await walletFrom(MINER_PHRASE);
    const target = { ip: "127.0.0.1", port: server.port, hotkey: miner.hotkey.ss58 };
    await flood(target, 300, 30); // warm up: JIT, pools, first-use allocations
    const before = await server.sample();
    const t0 = performance.now();
    const [statuses, conns] = await Promise.all([
      flood(target, requests, hotkeys),
      stall(server.port, stalled),
    ]);
    const seconds = (performance.now() - t0) / 1000;
    const peak = await server.sample();
    // The stalled connections' deadline passes; then what the axon still holds.
    await new Promise((r) => setTimeout(r, 2 * DEADLINE_MS + 1_000));
    const after = await server.sample();
    const settled: Sample[] = [];
    for (let i = 0; i < settleChecks; i++) {
      await new Promise((r) => setTimeout(r, 30_000));
      settled.push(await server.sample());
    }
    for (const c of conns) {
      try {
        c.close();
      } catch {
        // closed by the axon
      }
    }
    console.log(
      `flood: ${requests} signed requests (${hotkeys} hotkeys, fresh uuid each) + ${stalled} stalled`,
    );
    console.log(`  replies ${JSON.stringify(statuses)} in ${seconds.toFixed(1)} s (0: connection failed)`);
    const rows: [string, Sample][] = [["before", before], ["right after", peak], ["deadline later", after]];
    settled.forEach((s, i) => rows.push([`${30 * (i + 1)} s later`, s]));
    for (const [name, s] of rows) {
      const st = s.stats as { nonceKeys: number; rateBuckets: number; connections: unknown };
      console.log(
        `  ${name.padEnd(15)} rss ${mb(s.rss).padStart(9)}  heap ${mb(s.heapUsed)} of ${mb(s.heapTotal)}  ` +
          `external ${mb(s.external)}  ` +
          `nonceKeys ${st.nonceKeys}  rateBuckets ${st.rateBuckets}  connections ${
            JSON.stringify(st.connections)
          }`,
      );
    }
  } finally {
    await server.stop();
  }
}

if (import.meta.main) {
  if (Deno.args[0] === "--serve") await serve();
  else await benchAxonFlood(...Deno.args.map(Number) as [number?, number?, number?, number?]);
}
