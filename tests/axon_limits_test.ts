/**
 * The AxonActor on a real socket against clients that stall, crowd or send oversized names: stalled
 * connections are closed by the read deadlines while others are served, connections past the cap are
 * refused, and no response header grows past what the SDK's dendrite (aiohttp, 8 190 bytes) can read.
 */
import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { type AxonOptions, startAxonActor } from "../actors/axon/axon_actor.ts";
import { axonStats } from "../actors/protocol.ts";
import { createDendrite } from "../local/dendrite.ts";
import { FakeMiner, MINER_PHRASE, VALIDATOR_FACTS, VALIDATOR_PHRASE, walletFrom } from "./axon_fixtures.ts";
import { runSdkDendrite } from "./axon_sdk_processes.ts";
import { waitFor } from "./helpers.ts";

const [minerW, validatorW] = await Promise.all([MINER_PHRASE, VALIDATOR_PHRASE].map(walletFrom));
const encoder = new TextEncoder();

function startAxon(limits: AxonOptions["limits"]) {
  const miner = new FakeMiner();
  miner.facts.set(validatorW.hotkey.ss58, VALIDATOR_FACTS);
  return startAxonActor(
    { ip: "127.0.0.1", port: 0, maxBodyBytes: 1 << 20, minStakeTao: 1_000, limits },
    {
      wallet: minerW,
      lookup: (h) => miner.lookup(h),
      acceptTask: (r, v) => miner.acceptTask(r, v),
      taskStatus: (id) => miner.taskStatus(id),
      capacity: () => miner.capacity(),
    },
  );
}

/** Opens a connection and writes `text`; returns it with when the write ended. */
async function openWith(port: number, text: string): Promise<{ conn: Deno.TcpConn; sentAt: number }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  if (text !== "") await conn.write(encoder.encode(text));
  return { conn, sentAt: Date.now() };
}

/**
 * Reads until the server closes the connection; resolves with what it sent and when it closed, or
 * with `closedAt: null` if it is still open after `withinMs` (the old axon never closes).
 */
async function closeOf(
  conn: Deno.TcpConn,
  withinMs: number,
): Promise<{ text: string; closedAt: number | null }> {
  const buf = new Uint8Array(4096);
  const parts: string[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"open">((r) => (timer = setTimeout(() => r("open"), withinMs)));
  try {
    while (true) {
      const n = await Promise.race([conn.read(buf).catch(() => null), expired]);
      if (n === "open") return { text: parts.join(""), closedAt: null };
      if (n === null) return { text: parts.join(""), closedAt: Date.now() };
      parts.push(new TextDecoder().decode(buf.subarray(0, n)));
    }
  } finally {
    clearTimeout(timer);
  }
}

function closeAll(conns: Deno.TcpConn[]): void {
  for (const c of conns) {
    try {
      c.close();
    } catch {
      // closed by the server already
    }
  }
}

async function captureLogs(): Promise<LogRecord[]> {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (r) => void records.push(r) },
    loggers: [
      { category: ["satori", "axon"], lowestLevel: "debug", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: [] },
    ],
  });
  return records;
}

Deno.test("AxonActor closes 200 stalled bodies within the body timeout and answers a valid request meanwhile", async () => {
  const records = await captureLogs();
  const bodyTimeoutMs = 400;
  const axon = startAxon({
    headerTimeoutMs: 400,
    bodyTimeoutMs,
    idleTimeoutMs: 5_000,
    maxConnections: 1_000,
  });
  const stalled: Deno.TcpConn[] = [];
  try {
    const { port } = (await axonStats(axon)).address;
    const head = "POST /TaskStatus HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n" +
      'content-length: 1000\r\n\r\n{"task_id": "t-';
    const opened = await Promise.all(Array.from({ length: 200 }, () => openWith(port, head)));
    stalled.push(...opened.map((o) => o.conn));

    const target = { ip: "127.0.0.1", port, hotkey: minerW.hotkey.ss58 };
    const ok = await createDendrite({ wallet: validatorW }).call(target, "TaskStatus", { task_id: "t-1" });
    assert.equal(ok.status, 200, ok.message ?? "");

    const closes = await Promise.all(opened.map((o) => closeOf(o.conn, bodyTimeoutMs + 4_000)));
    const after = closes.map((c, i) => c.closedAt === null ? Infinity : c.closedAt - opened[i].sentAt);
    assert.equal(after.filter((ms) => ms === Infinity).length, 0, "connections still open");
    assert.ok(Math.min(...after) >= bodyTimeoutMs - 20, `closed early: ${Math.min(...after)} ms`);
    assert.ok(Math.max(...after) < bodyTimeoutMs + 2_500, `closed late: ${Math.max(...after)} ms`);

    await waitFor(async () => (await axonStats(axon)).connections.aborted === 200, { what: "200 aborted" });
    const stats = await axonStats(axon);
    assert.ok(stats.connections.timedOut >= 200, `timedOut ${stats.connections.timedOut}`);
    assert.deepEqual(stats.replies, { "200": 1 });
    const errors = records.filter((r) => r.level === "error" || r.level === "warning");
    assert.deepEqual(errors.map((r) => r.message.join("")), []);
    assert.equal(
      records.filter((r) => r.level === "debug" && /aborted/.test(r.rawMessage as string)).length,
      200,
    );
  } finally {
    closeAll(stalled);
    await axon.stop();
    await reset();
  }
});

Deno.test("AxonActor closes connections that stall in their headers or send nothing, within the header timeout", async () => {
  const headerTimeoutMs = 300;
  const axon = startAxon({
    headerTimeoutMs,
    bodyTimeoutMs: 5_000,
    idleTimeoutMs: 5_000,
    maxConnections: 1_000,
  });
  const conns: Deno.TcpConn[] = [];
  try {
    const { port } = (await axonStats(axon)).address;
    const opened = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        openWith(
          port,
          i % 2 === 0 ? "" : "POST /TaskStatus HTTP/1.1\r\nhost: 127.0.0.1\r\nbt_header_dendrite_",
        )),
    );
    conns.push(...opened.map((o) => o.conn));
    const closes = await Promise.all(opened.map((o) => closeOf(o.conn, headerTimeoutMs + 4_000)));
    const after = closes.map((c, i) => c.closedAt === null ? Infinity : c.closedAt - opened[i].sentAt);
    assert.ok(Math.max(...after) < headerTimeoutMs + 2_500, `closed late or never: ${Math.max(...after)} ms`);
    assert.ok((await axonStats(axon)).connections.timedOut >= 60);
  } finally {
    closeAll(conns);
    await axon.stop();
  }
});

Deno.test("AxonActor refuses connections past max_connections and serves again once one closes", async () => {
  const axon = startAxon({
    maxConnections: 4,
    headerTimeoutMs: 10_000,
    bodyTimeoutMs: 10_000,
    idleTimeoutMs: 10_000,
  });
  const idle: Deno.TcpConn[] = [];
  try {
    const { port } = (await axonStats(axon)).address;
    // Accepted in the order they connect: these four before the fifth.
    for (let i = 0; i < 4; i++) idle.push((await openWith(port, "")).conn);
    const extra = await openWith(port, "");
    const refused = await closeOf(extra.conn, 3_000);
    closeAll([extra.conn]);
    assert.notEqual(refused.closedAt, null, "the connection past the cap is still open");
    assert.match(refused.text, /^HTTP\/1\.1 503 /);
    assert.match(refused.text, /"message":"Too many connections"/);

    const target = { ip: "127.0.0.1", port, hotkey: minerW.hotkey.ss58 };
    const dendrite = createDendrite({ wallet: validatorW });
    assert.equal((await dendrite.call(target, "TaskStatus", { task_id: "t-1" })).status, 503);
    closeAll(idle.splice(0, 1));
    await waitFor(async () => (await axonStats(axon)).connections.open === 3, { what: "3 open" });
    assert.equal((await dendrite.call(target, "TaskStatus", { task_id: "t-1" })).status, 200);
    assert.ok((await axonStats(axon)).connections.refused >= 2);
  } finally {
    closeAll(idle);
    await axon.stop();
  }
});

/** Every header line of `res` fits aiohttp's 8 190-byte limit. */
function assertHeadersFit(res: Response): void {
  for (const [key, value] of res.headers) {
    assert.ok(key.length + 2 + value.length < 8_190, `${key}: ${value.length} bytes`);
  }
}

Deno.test("AxonActor answers a 10 000-character unknown synapse name with 404 and every header under 8 190 bytes", async () => {
  const axon = startAxon({});
  try {
    const { port } = (await axonStats(axon)).address;
    const name = "X".repeat(10_000);
    // The SDK's dendrite reads the reply: a 404, not a header it cannot parse.
    const [sdk] = await runSdkDendrite(port, minerW.hotkey.ss58, [
      { case: "call", mnemonic: VALIDATOR_PHRASE, synapse: name },
    ]);
    assert.equal(sdk.status, 404, sdk.message ?? "");

    const target = { ip: "127.0.0.1", port, hotkey: minerW.hotkey.ss58 };
    const p = createDendrite({ wallet: validatorW }).prepare(target, "Synapse");
    const url = p.url.replace(/\/Synapse$/, `/${name}`);
    const res = await fetch(url, { method: "POST", headers: { ...p.headers, name }, body: p.body });
    assert.equal(res.status, 404);
    assertHeadersFit(res);
    const { message } = await res.json();
    assert.match(message, /^Synapse name 'X{128}\.\.\.' not found\. Available synapses \['Synapse', /);

    // Every other echoed request header oversized too: they come back in the TerminalInfo headers.
    const echoed = await fetch(url, {
      method: "POST",
      headers: {
        ...p.headers,
        bt_header_dendrite_uuid: "u".repeat(9_000),
        bt_header_dendrite_nonce: "9".repeat(9_000),
        bt_header_axon_ip: "1".repeat(9_000),
      },
      body: p.body,
    });
    assert.equal(echoed.status, 404);
    assertHeadersFit(echoed);
    await echoed.body?.cancel();
  } finally {
    await axon.stop();
  }
});
