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
import { signBtauth, walletSigner } from "../../tests/axon_btauth_fixtures.ts";
import { checkClaim, parseBtauthHeaders, verifyBtauth } from "./btauth.ts";
import { ApiError, parseTaskBody } from "./task_api_routes.ts";

const T0 = 1_750_000_000_000;
const [minerW, validatorW] = await Promise.all([MINER_PHRASE, VALIDATOR_PHRASE].map(walletFrom));
const validator = walletSigner(validatorW);
const NAMES = ["version", "hotkey", "nonce", "signature", "receiver", "crypto"].map((n) =>
  `x-bittensor-${n}`
);

// What HTTP can carry in a header value: Latin-1 without CR, LF and NUL, trimmed.
const headerValue = fc.oneof(
  fc.string({ unit: "binary-ascii" }),
  fc.bigInt().map(String),
  fc.constantFrom(
    "1",
    "ed25519",
    "sr25519",
    "0",
    validatorW.hotkey.ss58,
    minerW.hotkey.ss58,
    "0x" + "ab".repeat(64),
  ),
  fc.integer({ min: 4_000, max: 6_000 }).map((n) => "9".repeat(n)),
  fc.stringMatching(/^(0x)?[0-9a-fA-F ]{0,140}$/),
).map((s) => [...s].map((c) => (c.charCodeAt(0) > 0xff ? "?" : c)).join("").replace(/[\r\n\0]/g, "").trim());
/** A valid task's fields, each kept or left out; a few replaced by anything. */
const TASK_FIELDS = Object.fromEntries(Object.entries(taskJson("t-1")).map(([k, v]) => [k, fc.constant(v)]));
const headers = fc.dictionary(fc.constantFrom(...NAMES), headerValue, { maxKeys: 6 });
const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 512 }),
  fc.jsonValue().map((v) => new TextEncoder().encode(JSON.stringify(v))),
  fc.record({ ...TASK_FIELDS, id: fc.string(), gpus: fc.jsonValue(), dataset: fc.jsonValue() }, {
    requiredKeys: [],
  }).map((v) => new TextEncoder().encode(JSON.stringify(v))),
);

Deno.test("parseBtauthHeaders(), checkClaim() and verifyBtauth() never throw on random headers", () => {
  fc.assert(
    fc.property(headers, fc.string(), bytes, fc.bigInt(), (h, target, body, nowNs) => {
      const parsed = parseBtauthHeaders(h);
      if (parsed.ok) checkClaim(parsed.headers, minerW.hotkey.ss58, nowNs);
      const r = verifyBtauth(h, { method: "POST", target, body }, {
        self: minerW.hotkey.ss58,
        nowNs,
        ledger: new Map(),
      });
      assert.ok(r.ok || typeof r.message === "string");
    }),
    { numRuns: 500 },
  );
});

Deno.test("parseTaskBody() never throws: a TaskRequest or a 400 invalid_task", () => {
  fc.assert(
    fc.property(bytes, (body) => {
      const r = parseTaskBody(body);
      if (r instanceof ApiError) assert.deepEqual([r.status, r.code], [400, "invalid_task"]);
      else assert.ok(r.ok);
    }),
    { numRuns: 500 },
  );
});

const ALLOWED = new Set([200, 202, 400, 401, 403, 404, 405, 409, 413, 429]);

Deno.test("handler() answers random task API requests, signed or not, with a JSON 4xx or success, never a 500", async () => {
  const route = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.constantFrom(
        ["POST", "/v1/tasks"],
        ["GET", "/v1/capacity"],
        ["GET", "/v1/tasks/t-1?x=%20&&"],
        ["POST", "/v1/tasks/t-1/cancel"],
      ),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(
        fc.constantFrom("POST", "GET", "PUT", "DELETE"),
        fc.oneof(
          fc.constantFrom("/v1/tasks/%E0%A4", "/v1", "/v1/tasks/", "/v1/openapi.yaml"),
          fc.string({ unit: "grapheme-ascii" }).map((s) =>
            `/v1/${encodeURIComponent(s)}?${encodeURIComponent(s)}`
          ),
        ),
      ),
    },
  );
  const request = fc.record({
    route,
    /** Sign it properly first, so the fuzz also reaches the body parser and the routes. */
    sign: fc.boolean(),
    headers,
    body: bytes,
  });
  await fc.assert(
    fc.asyncProperty(request, async ({ route: [method, target], sign, headers: over, body }) => {
      const fake = fakeClock(T0);
      const s = makeHandler(minerW, fake.clock);
      s.miner.facts.set(validator.ss58, VALIDATOR_FACTS);
      const signed = sign
        ? signBtauth(validator, {
          method,
          target,
          body,
          receiver: minerW.hotkey.ss58,
          nonceNs: BigInt(T0) * 1_000_000n,
        })
        : {};
      const h = new Headers(signed);
      if (!sign) { for (const [k, v] of Object.entries(over)) h.set(k, v); }
      const hasBody = body.length > 0 && method !== "GET";
      const res = await s.handler(
        new Request(`http://axon${target}`, { method, headers: h, body: hasBody ? body : undefined }),
      );
      assert.ok(ALLOWED.has(res.status), `status ${res.status}: ${await res.clone().text()}`);
      if (res.status >= 400) {
        const b = await res.json();
        assert.equal(typeof b.error, "string");
        assert.equal(typeof b.message, "string");
      } else await res.body?.cancel();
    }),
    { numRuns: 300 },
  );
});
