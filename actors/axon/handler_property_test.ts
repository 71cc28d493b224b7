import assert from "node:assert/strict";
import fc from "fast-check";
import { fakeClock } from "../../tests/helpers.ts";
import {
  makeHandler,
  MINER_PHRASE,
  taskJson,
  VALIDATOR_FACTS,
  VALIDATOR_PHRASE,
  walletFrom,
} from "../../tests/axon_fixtures.ts";
import { PyFloat, type PyValue } from "./body_hash.ts";
import { pyJson } from "./response.ts";
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
  // Long enough that an echo of it would pass aiohttp's 8 190-byte header line.
  fc.integer({ min: 1_000, max: 12_000 }).map((n) => "7".repeat(n)),
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
      for (const [name, value] of res.headers) {
        assert.ok(name.length + value.length + 2 < 8_190, `header ${name} is ${value.length} bytes`);
      }
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

// Hostile values a validator may sign into a synapse's fields: they must be refused or carried, never a 500.
const hostileNumber = fc.oneof(
  fc.bigInt({ min: -(10n ** 400n), max: 10n ** 400n }),
  fc.constantFrom(2 ** 53 + 2, -(2 ** 63), 1e21, 1.7976931348623157e308, 5e-324, -0),
  fc.constantFrom(NaN, Infinity, -Infinity, 1e308, -1e-300).map((v) => new PyFloat(v)),
);
const nanLike = fc.constantFrom(
  "NaN",
  "nan",
  "Infinity",
  "-inf",
  "1e999",
  "-0",
  "0x1p3",
  "1_000",
  "",
  " ",
  "None",
  "null",
  "__proto__",
  "constructor",
  "../../etc/passwd",
  "%00",
);
const longString = fc.tuple(
  fc.nat({ max: 20_000 }),
  fc.constantFrom("a", "é", "😀", "\u0000", "\ud800", "\u202e"),
)
  .map(([n, c]) => c.repeat(n));
const unicode = fc.string({ unit: "binary", maxLength: 64 });
/** Nested `depth` levels down, as arrays or single-key objects. */
function nest(depth: number, kind: "array" | "object"): PyValue {
  let v: PyValue = 1;
  for (let i = 0; i < depth; i++) v = kind === "array" ? [v] : { a: v };
  return v;
}
const deep = fc.tuple(fc.integer({ min: 1, max: 800 }), fc.constantFrom("array", "object"))
  .map(([d, k]) => nest(d, k));
const hostile: fc.Arbitrary<PyValue> = fc.oneof(
  hostileNumber,
  nanLike,
  longString,
  unicode,
  deep,
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<PyValue>,
);
/** A JSON token the dendrite cannot sign (JS has no NaN or 1e999 literal), put where no hash covers it. */
const hostileToken = fc.oneof(
  fc.constantFrom("NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e-999", "1" + "0".repeat(5_000)),
  fc.integer({ min: 1, max: 30_000 }).map((d) => "[".repeat(d) + "]".repeat(d)),
  fc.integer({ min: 1, max: 10_000 }).map((d) => '{"a":'.repeat(d) + "1" + "}".repeat(d)),
);

/** Replaces the value at `path` inside `value` (a fresh copy); an empty path replaces it all. */
function setAt(value: PyValue, path: readonly string[], v: PyValue): PyValue {
  if (path.length === 0) return v;
  const obj =
    value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof PyFloat)
      ? value as Record<string, PyValue>
      : {};
  return { ...obj, [path[0]]: setAt(obj[path[0]] ?? null, path.slice(1), v) };
}

const TASK_PATHS = [
  [],
  ["id"],
  ["type"],
  ["dataset"],
  ["dataset", "kind"],
  ["dataset", "repo"],
  ["dataset", "revision"],
  ["training", "base_model"],
  ["training", "hyperparameters"],
  ["training", "hyperparameters", "max_steps"],
  ["training", "hyperparameters", "learning_rate"],
  ["training", "hyperparameters", "lora_rank"],
  ["priority"],
  ["extra"],
] as const;
const ENVELOPE_KEYS = [
  "name",
  "timeout",
  "total_size",
  "header_size",
  "dendrite",
  "axon",
  "computed_body_hash",
];

/** Asserts the reply is a protocol status with a JSON body and no header over aiohttp's line limit. */
async function assertProtocolReply(res: Response): Promise<void> {
  assert.ok(ALLOWED.has(res.status), `status ${res.status}: ${(await res.clone().text()).slice(0, 300)}`);
  for (const [name, value] of res.headers) {
    assert.ok(name.length + value.length + 2 < 8_190, `header ${name} is ${value.length} bytes`);
  }
  await res.json();
}

/** One signed request: a hostile value in the hashed task, in `task_id`, or a raw token elsewhere. */
const hostileRequest = fc.oneof(
  fc.record({ at: fc.constant("task" as const), path: fc.constantFrom(...TASK_PATHS), value: hostile }),
  fc.record({ at: fc.constant("task_id" as const), value: hostile }),
  fc.record({
    at: fc.constant("raw" as const),
    name: fc.constantFrom("Capacity", "Synapse", "TaskStatus") as fc.Arbitrary<
      "Capacity" | "Synapse" | "TaskStatus"
    >,
    key: fc.constantFrom(...ENVELOPE_KEYS, "queue_max", "gpu_vram_mb", "extra"),
    token: fc.oneof(hostileToken, hostile.map((v) => pyJson(v))),
  }),
);

type HostileRequest = typeof hostileRequest extends fc.Arbitrary<infer T> ? T : never;

Deno.test("handler() answers signed requests with hostile field values without a 500", async () => {
  const fake = fakeClock(1_750_000_000_000);
  const { handler, miner } = makeHandler(minerW, fake.clock, {
    rateLimit: { burst: 1e9, perSecond: 1e9 },
    maxBodyBytes: 256 * 1024,
  });
  miner.facts.set(validatorW.hotkey.ss58, VALIDATOR_FACTS);
  miner.queueMax = Infinity;
  const dendrite = createDendrite({ wallet: validatorW, now: () => fake.clock.now() });
  const target = { ip: "127.0.0.1", port: 8001, hotkey: minerW.hotkey.ss58 };
  let id = 0;
  const send = (r: HostileRequest) => {
    let p;
    let body;
    if (r.at === "task") {
      p = dendrite.prepare(target, "TrainingTask", { task: setAt(taskJson(`t-${id++}`), r.path, r.value) });
      body = p.body;
    } else if (r.at === "task_id") {
      p = dendrite.prepare(target, "TaskStatus", { task_id: r.value });
      body = p.body;
    } else {
      // Unhashed envelope or extra field, as a raw JSON token the SDK's json.loads would read.
      p = dendrite.prepare(target, r.name, {});
      body = `${p.body.slice(0, -1)},${JSON.stringify(r.key)}:${r.token}}`;
    }
    return handler(new Request(p.url, { method: "POST", headers: p.headers, body }));
  };
  await fc.assert(
    fc.asyncProperty(hostileRequest, async (r) => await assertProtocolReply(await send(r))),
    {
      numRuns: 300,
      // Nesting deep enough to pass JSON.parse yet overflow a recursive walk after it: always tried.
      examples: [1_000, 2_000, 3_000, 3_250, 3_500, 4_000, 6_000].flatMap((d): [HostileRequest][] => [
        [{ at: "raw", name: "Capacity", key: "extra", token: '{"a":'.repeat(d) + "1" + "}".repeat(d) }],
        [{ at: "raw", name: "Synapse", key: "dendrite", token: "[".repeat(d) + "]".repeat(d) }],
      ]),
    },
  );
});
