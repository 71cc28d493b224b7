import assert from "node:assert/strict";
import fc from "fast-check";
import { fakeClock } from "../../tests/helpers.ts";
import {
  makeHandler,
  MINER_PHRASE,
  VALIDATOR_FACTS,
  VALIDATOR_PHRASE,
  walletFrom,
} from "../../tests/axon_fixtures.ts";
import { createDendrite } from "../../local/dendrite.ts";

const [minerW, validatorW] = await Promise.all([MINER_PHRASE, VALIDATOR_PHRASE].map(walletFrom));
const ALLOWED = new Set([200, 400, 401, 403, 404, 405, 408, 413]);
const HEADER_NAMES = [
  "name",
  "timeout",
  "computed_body_hash",
  "bt_header_axon_hotkey",
  "bt_header_axon_port",
  "bt_header_dendrite_hotkey",
  "bt_header_dendrite_nonce",
  "bt_header_dendrite_uuid",
  "bt_header_dendrite_signature",
  "bt_header_dendrite_version",
  "content-length",
];

// What HTTP can carry in a header value: Latin-1 without CR, LF and NUL.
const headerValue = fc.oneof(
  fc.string({ unit: "binary-ascii" }),
  fc.bigInt().map(String),
  fc.double().map(String),
  fc.constantFrom(validatorW.hotkey.ss58, minerW.hotkey.ss58, "0x" + "ab".repeat(64), "-1", "1e999"),
).map((s) => [...s].map((c) => (c.charCodeAt(0) > 0xff ? "?" : c)).join("").replace(/[\r\n\0]/g, "").trim());

const jsonBody = fc.jsonValue().map((v) => JSON.stringify(v));
const synapseBody = fc.record({
  name: fc.string(),
  timeout: fc.oneof(fc.double(), fc.string()),
  task: fc.oneof(fc.jsonValue(), fc.constant(null)),
  task_id: fc.oneof(fc.string(), fc.integer()),
  dendrite: fc.oneof(fc.jsonValue(), fc.record({ nonce: fc.bigInt().map(Number), hotkey: fc.string() })),
  queue_max: fc.jsonValue(),
}, { requiredKeys: [] }).map((v) => JSON.stringify(v));

const request = fc.record({
  method: fc.constantFrom("POST", "GET", "PUT", "DELETE", "PATCH"),
  path: fc.oneof(
    fc.constantFrom("Synapse", "TrainingTask", "TaskStatus", "Capacity", "", "%E0%A4%A", "Capacity/x"),
    fc.string({ unit: "grapheme-ascii" }).map(encodeURIComponent),
  ),
  headers: fc.dictionary(fc.constantFrom(...HEADER_NAMES), headerValue, { maxKeys: 8 }),
  body: fc.oneof(fc.string({ unit: "grapheme" }), jsonBody, synapseBody),
});

Deno.test("handler() answers random requests with JSON and a protocol status, never a 500", async () => {
  const fake = fakeClock(1_750_000_000_000);
  const { handler, miner } = makeHandler(minerW, fake.clock, { maxBodyBytes: 4_096 });
  miner.facts.set(validatorW.hotkey.ss58, VALIDATOR_FACTS);
  await fc.assert(
    fc.asyncProperty(request, async ({ method, path, headers, body }) => {
      let req: Request;
      try {
        req = new Request(`http://127.0.0.1:8001/${path}`, {
          method,
          headers,
          body: method === "GET" ? undefined : body,
        });
      } catch {
        return; // not a request a client could send (e.g. a bad content-length)
      }
      const res = await handler(req);
      assert.ok(ALLOWED.has(res.status), `status ${res.status}: ${await res.clone().text()}`);
      assert.equal(res.headers.get("content-type"), "application/json");
      const json = await res.json();
      if (res.status !== 200) assert.equal(typeof json.message, "string");
    }),
    { numRuns: 800 },
  );
});

Deno.test("handler() answers signed requests with one field value replaced without a 500", async () => {
  const fake = fakeClock(1_750_000_000_000);
  const { handler, miner } = makeHandler(minerW, fake.clock, { rateLimit: { burst: 1e9, perSecond: 1e9 } });
  miner.facts.set(validatorW.hotkey.ss58, VALIDATOR_FACTS);
  const dendrite = createDendrite({ wallet: validatorW, now: () => fake.clock.now() });
  const target = { ip: "127.0.0.1", port: 8001, hotkey: minerW.hotkey.ss58 };
  const names = ["TrainingTask", "TaskStatus", "Capacity", "Synapse"] as const;
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...names),
      fc.string(),
      fc.jsonValue(),
      async (name, key, value) => {
        const p = dendrite.prepare(target, name, { task: { id: "t-1" } });
        const body = { ...JSON.parse(p.body), [key]: value };
        const res = await handler(
          new Request(p.url, { method: "POST", headers: p.headers, body: JSON.stringify(body) }),
        );
        assert.ok(ALLOWED.has(res.status), `status ${res.status}: ${await res.clone().text()}`);
        await res.json();
      },
    ),
    { numRuns: 400 },
  );
});
