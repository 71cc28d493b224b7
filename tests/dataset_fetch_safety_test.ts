/**
 * A hostile validator's dataset URL against the miner's fetcher (issue 12): slow hosts, endless
 * bodies, addresses inside the miner's network (directly, through DNS, through a redirect). Servers
 * bind 127.0.0.1 (and 127.0.0.2, standing in for a private network); names are steered by a
 * resolver the test controls, and hosts that must never be reached are answered by a recording fetch.
 */
import assert from "node:assert/strict";
import { DEFAULT_LIMITS } from "../actors/task_center/dataset/limits.ts";
import { prepareDatasetDir } from "../actors/task_center/dataset/prepare.ts";
import { DatasetSource } from "../core/task.ts";
import { type Call, recordingFetch, refusal, serve, urlSource } from "./dataset_fetch_fixtures.ts";
import { JSONL } from "./task_center_fixtures.ts";

const enc = new TextEncoder();

/** A body that sends `bytes` one at a time, `gapMs` apart; stops when the client goes away. */
function trickle(bytes: Uint8Array, gapMs: number, stop: AbortSignal): Response {
  let i = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new Response(
    new ReadableStream<Uint8Array>({
      async pull(c) {
        if (i > 0) {
          await new Promise<void>((r) => {
            timer = setTimeout(r, gapMs);
            stop.addEventListener("abort", () => (clearTimeout(timer), r()), { once: true });
          });
        }
        if (stop.aborted || i >= bytes.length) return c.close();
        c.enqueue(bytes.subarray(i, ++i));
      },
      cancel: () => clearTimeout(timer),
    }),
  );
}
Deno.test("prepareDatasetDir() gives up on a host that sends one byte every few seconds", async () => {
  const stop = new AbortController();
  const body = enc.encode(JSONL.slice(0, 4));
  const host = serve(() => trickle(body, 3_000, stop.signal));
  const stalled = serve(() =>
    new Promise<Response>((r) => stop.signal.addEventListener("abort", () => r(new Response("x"))))
  );
  const dataset = { idle_timeout_s: 0.3, first_byte_timeout_s: 0.3, allow_hosts: ["127.0.0.1"] };
  try {
    const t0 = Date.now();
    const idle = await refusal(urlSource(`${host.url}/slow.jsonl`, body), { dataset });
    assert.equal(idle.reason, "dataset_timeout");
    assert.match(idle.message, /no data for 0\.3 s/);
    const silent = await refusal(urlSource(`${stalled.url}/silent.jsonl`, "x"), { dataset });
    assert.equal(silent.reason, "dataset_timeout");
    assert.ok(Date.now() - t0 < 2_500, `gave up after ${Date.now() - t0} ms, not after the whole trickle`);
    // Bytes often enough to pass the idle check still stop at the total time.
    const steady = serve(() => trickle(enc.encode(JSONL), 100, stop.signal));
    const total = await refusal(urlSource(`${steady.url}/steady.jsonl`, JSONL), {
      dataset: { ...dataset, idle_timeout_s: 1, total_timeout_s: 0.5 },
    });
    assert.equal(total.reason, "dataset_timeout");
    assert.match(total.message, /not done within 0\.5 s/);
    stop.abort();
    await steady.close();
  } finally {
    stop.abort();
    await host.close();
    await stalled.close();
  }
});

Deno.test("prepareDatasetDir() stops a body past the miner's cap whatever max_bytes the task names", async () => {
  let served = 0;
  const chunk = new Uint8Array(64 * 1024).fill(0x61);
  const host = serve(() =>
    new Response(
      new ReadableStream<Uint8Array>({
        pull(c) {
          if (served >= 64 * 1024 * 1024) return c.close();
          served += chunk.length;
          c.enqueue(chunk);
        },
      }),
    )
  );
  try {
    const cap = 256 * 1024;
    const err = await refusal(urlSource(`${host.url}/big.jsonl`, "anything", 1e15), {
      dataset: { max_bytes: cap, allow_hosts: ["127.0.0.1"] },
    });
    assert.equal(err.reason, "dataset_too_large");
    assert.ok(served < 32 * 1024 * 1024, `the server sent ${served} bytes for a cap of ${cap}`);
  } finally {
    await host.close();
  }
});

Deno.test("prepareDatasetDir() tells the validator a fixed reason, never a status code or a hash", async () => {
  const host = serve((req) =>
    new URL(req.url).pathname === "/gone" ? new Response("no", { status: 404 }) : new Response("other bytes")
  );
  const dataset = { allow_hosts: ["127.0.0.1"] };
  try {
    const missing = await refusal(urlSource(`${host.url}/gone`), { dataset });
    assert.equal(missing.reason, "dataset_unreachable");
    assert.match(missing.message, /answered 404/, "the detail stays in the message, for the log");
    const wrong = await refusal(urlSource(`${host.url}/d.jsonl`, JSONL), { dataset });
    assert.equal(wrong.reason, "dataset_hash_mismatch");
  } finally {
    await host.close();
  }
});

Deno.test("prepareDatasetDir() refuses loopback, private, link-local and IPv6 loopback addresses", async () => {
  const own = serve(() => new Response(JSONL));
  const calls: Call[] = [];
  const resolved: string[] = [];
  const resolveDns = (host: string) => (resolved.push(host), Promise.resolve(["93.184.215.14"]));
  const port = new URL(own.url).port;
  try {
    for (
      const url of [
        `${own.url}/d.jsonl`,
        `http://localhost:${port}/d.jsonl`,
        "http://10.1.2.3/d.jsonl",
        "http://169.254.169.254/latest/meta-data/",
        `http://[::1]:${port}/d.jsonl`,
        "http://[::ffff:127.0.0.1]/d.jsonl",
        "http://[fd00::1]/d.jsonl",
        "http://100.64.0.1/d.jsonl",
        "http://0x7f.1/d.jsonl", // the URL parser makes it 127.0.0.1
      ]
    ) {
      const err = await refusal(urlSource(url, JSONL), { fetch: recordingFetch(calls), resolveDns });
      assert.equal(err.reason, "dataset_forbidden_address", url);
    }
    assert.deepEqual(calls, [], "no request went out");
    assert.deepEqual(resolved, [], "an address needs no lookup");
    assert.equal(own.requests.length, 0, "the miner's own port was never reached");
  } finally {
    await own.close();
  }
});

Deno.test("prepareDatasetDir() refuses a public name whose DNS answer is private", async () => {
  const calls: Call[] = [];
  for (const answer of [["10.9.8.7"], ["93.184.215.14", "127.0.0.1"], ["fe80::1"], ["169.254.169.254"]]) {
    const resolveDns = () => Promise.resolve(answer);
    const err = await refusal(urlSource("https://files.example.com/d.jsonl", JSONL), {
      fetch: recordingFetch(calls),
      resolveDns,
    });
    assert.equal(err.reason, "dataset_forbidden_address", answer.join(","));
  }
  assert.deepEqual(calls, []);
});

Deno.test("prepareDatasetDir() connects to the address it checked, not to a second lookup", async () => {
  const host = serve(() => new Response(JSONL));
  const calls: Call[] = [];
  const dataDir = await Deno.makeTempDir({ prefix: "fetch_safety_" });
  try {
    // "rebind.example" resolves nowhere in real DNS: the download works only through the checked address.
    const url = `http://rebind.example:${new URL(host.url).port}/d.jsonl`;
    const deps = {
      dataDir,
      hubUrl: "http://hub.invalid",
      limits: DEFAULT_LIMITS,
      fetch: recordingFetch(calls, undefined, (u) => u.hostname === "rebind.example"),
      resolveDns: () => Promise.resolve(["127.0.0.1"]),
      dataset: { allow_hosts: ["127.0.0.0/8"] },
    };
    const m = await prepareDatasetDir("t-1", DatasetSource.parse(urlSource(url, JSONL)), deps);
    assert.equal(m.sample_count, 3);
    assert.equal(host.requests[0].host, new URL(url).host, "the Host header keeps the name");
    assert.deepEqual(calls.map((c) => c.pinned), [true]);
  } finally {
    await host.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("prepareDatasetDir() refuses a redirect from an allowed host to a private one", async () => {
  const inside = serve(() => new Response(JSONL), "127.0.0.2"); // stands for the miner's private network
  const { port } = new URL(inside.url);
  const targets: Record<string, string> = {
    "/to-ip": `${inside.url}/d.jsonl`,
    "/to-name": `http://internal.example:${port}/d.jsonl`,
    "/to-file": "file:///etc/passwd",
    "/loop": "/loop",
  };
  const allowed = serve((req) =>
    Response.redirect(new URL(targets[new URL(req.url).pathname], req.url), 302)
  );
  const calls: Call[] = [];
  const deps = {
    fetch: recordingFetch(calls),
    resolveDns: () => Promise.resolve(["127.0.0.2"]),
    dataset: { allow_hosts: ["127.0.0.1"] },
  };
  try {
    for (const path of ["/to-ip", "/to-name", "/to-file"]) {
      const err = await refusal(urlSource(`${allowed.url}${path}`, JSONL), deps);
      assert.equal(err.reason, "dataset_forbidden_address", path);
    }
    assert.equal(inside.requests.length, 0, "nothing reached the private host");
    assert.ok(calls.every((c) => c.url.startsWith(allowed.url)), "only the allowed host was asked");
    const loop = await refusal(urlSource(`${allowed.url}/loop`, JSONL), deps);
    assert.equal(loop.reason, "dataset_unreachable");
    assert.match(loop.message, /more than 5 redirects/);
  } finally {
    await allowed.close();
    await inside.close();
  }
});
