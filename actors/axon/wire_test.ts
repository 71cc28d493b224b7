import assert from "node:assert/strict";
import fc from "fast-check";
import { loadWallet, type Wallet } from "../../core/wallet.ts";
import { EMPTY_BODY_HASH, parsePyJson, PyFloat } from "./body_hash.ts";
import {
  buildRequest,
  MAX_WINDOW_TIMEOUT_S,
  parseRequestHeaders,
  pruneNonces,
  recordNonce,
  type RequestHeaders,
  type SignRequest,
  verifyBodyHash,
  verifyRequest,
} from "./wire.ts";
import { parsePyFloat, parsePyInt } from "./wire_values.ts";

const AXON = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const NOW = 1_750_000_000_000_000_000n;
const PHRASE = "old leopard transfer rib spatial phone calm indicate online fire caution review";

async function validatorWallet(): Promise<Wallet> {
  const root = await Deno.makeTempDir({ prefix: "protocol_test_" });
  await Deno.mkdir(`${root}/v/hotkeys`, { recursive: true });
  await Deno.writeTextFile(`${root}/v/hotkeys/h`, JSON.stringify({ secretPhrase: PHRASE }), { mode: 0o600 });
  await Deno.writeTextFile(`${root}/v/coldkeypub.txt`, JSON.stringify({ ss58Address: AXON }));
  return (await loadWallet({ root, name: "v", hotkey: "h", env: {} })).wallet;
}

function signRequest(wallet: Wallet, over: Partial<SignRequest> = {}) {
  const req: SignRequest = {
    synapseName: "Capacity",
    timeout: 12,
    axon: { ip: "1.2.3.4", port: 8001, hotkey: AXON },
    dendrite: { ip: "5.6.7.8", uuid: "u-1", version: 10_005_000, hotkey: wallet.hotkey.ss58 },
    nonceNs: NOW,
    fields: { gpus: 2, note: "x" },
    hashFields: ["gpus"],
    ...over,
  };
  return buildRequest(req, (m) => wallet.sign(m)).headers;
}

function parse(headers: Record<string, string>): RequestHeaders {
  const p = parseRequestHeaders(headers);
  assert.ok(p.ok, Deno.inspect(p));
  return p.headers;
}

Deno.test("parsePyInt() and parsePyFloat() accept what Python int() and float() accept", () => {
  assert.equal(parsePyInt(" +1_000 "), 1000n);
  assert.equal(parsePyInt("-7"), -7n);
  for (const bad of ["", "1__0", "_1", "0x10", "1.5", "1e3", "١٢"]) assert.equal(parsePyInt(bad), null, bad);
  assert.equal(parsePyFloat("12"), 12);
  assert.equal(parsePyFloat(" 1_0.5 "), 10.5);
  assert.equal(parsePyFloat(".5"), 0.5);
  assert.equal(parsePyFloat("5."), 5);
  assert.equal(parsePyFloat("-1E-3"), -0.001);
  assert.equal(parsePyFloat("Infinity"), Infinity);
  assert.ok(Number.isNaN(parsePyFloat("nan")));
  for (const bad of ["", ".", "e5", "1e", "abc", "1.2.3", "0x1p3"]) {
    assert.equal(parsePyFloat(bad), null, bad);
  }
});

Deno.test("parseRequestHeaders() defaults timeout to 12 and names malformed headers with 400", () => {
  const ok = parseRequestHeaders(new Headers({ "BT_HEADER_DENDRITE_NONCE": "5", name: "Capacity" }));
  assert.ok(ok.ok);
  assert.equal(ok.headers.timeout, 12);
  assert.equal(ok.headers.dendrite.nonce, 5n);
  assert.equal(ok.headers.computedBodyHash, "");
  for (
    const [header, value] of [
      ["bt_header_dendrite_nonce", "12a"],
      ["bt_header_dendrite_version", "x"],
      [
        "timeout",
        "nan",
      ],
      ["timeout", "inf"],
      ["timeout", "-1"],
    ]
  ) {
    const res = parseRequestHeaders({ [header]: value });
    assert.deepEqual(res.ok ? "ok" : [res.status, res.header], [400, header]);
  }
});

Deno.test("verifyRequest() accepts a request signed by buildRequest() and refuses each broken part", async () => {
  const wallet = await validatorWallet();
  const headers = signRequest(wallet);
  const ctx = { axonHotkey: AXON, nonces: new Map<string, bigint>(), nowNs: NOW + 1_000_000n };
  const good = verifyRequest(parse(headers), ctx);
  assert.ok(good.ok);
  assert.equal(good.endpointKey, `${wallet.hotkey.ss58}:u-1`);
  const cases: [Record<string, string | undefined>, string, RegExp][] = [
    [{ bt_header_dendrite_hotkey: undefined }, "bt_header_dendrite_hotkey", /Missing Hotkey/],
    [{ bt_header_dendrite_hotkey: "5notanaddress" }, "bt_header_dendrite_hotkey", /Invalid Hotkey/],
    [{ bt_header_dendrite_nonce: undefined }, "bt_header_dendrite_nonce", /Missing Nonce/],
    [{ bt_header_dendrite_uuid: undefined }, "bt_header_dendrite_uuid", /Missing Uuid/],
    [{ bt_header_dendrite_signature: "" }, "bt_header_dendrite_signature", /Missing Signature/],
    [{ bt_header_dendrite_uuid: "u-2" }, "bt_header_dendrite_signature", /Signature mismatch/],
    [{ computed_body_hash: EMPTY_BODY_HASH }, "bt_header_dendrite_signature", /Signature mismatch/],
  ];
  for (const [change, header, message] of cases) {
    const changed = Object.fromEntries(
      Object.entries({ ...headers, ...change }).filter(([, v]) => v !== undefined),
    ) as Record<string, string>;
    const res = verifyRequest(parse(changed), ctx);
    assert.ok(!res.ok, JSON.stringify(change));
    assert.equal(res.status, 401);
    assert.equal(res.header, header);
    assert.match(res.message, message);
  }
});

Deno.test("verifyRequest() keeps nonces strictly increasing per hotkey:uuid", async () => {
  const wallet = await validatorWallet();
  const ctx = { axonHotkey: AXON, nonces: new Map<string, bigint>(), nowNs: NOW };
  const first = verifyRequest(parse(signRequest(wallet)), ctx);
  assert.ok(first.ok);
  const nonces = recordNonce(ctx.nonces, first);
  assert.equal(ctx.nonces.size, 0, "recordNonce() returns a new store");
  const replay = verifyRequest(parse(signRequest(wallet)), { ...ctx, nonces });
  assert.ok(!replay.ok && replay.status === 401);
  // Once a nonce is known, later ones need no time window: only order counts (as in the SDK).
  const later = verifyRequest(parse(signRequest(wallet, { nonceNs: NOW + 1n })), {
    ...ctx,
    nonces,
    nowNs: NOW * 2n,
  });
  assert.ok(later.ok);
  // Another dendrite instance (uuid) of the same hotkey has its own sequence, and its own window.
  const other = { ...signRequest(wallet, { dendrite: { ...otherDendrite(wallet), uuid: "u-9" } }) };
  assert.ok(verifyRequest(parse(other), { ...ctx, nonces }).ok);
});

function otherDendrite(wallet: Wallet) {
  return { ip: "5.6.7.8", uuid: "u-9", version: 10_005_000, hotkey: wallet.hotkey.ss58 };
}

Deno.test("verifyRequest() applies the window whatever the version and caps the claimed timeout", async () => {
  const wallet = await validatorWallet();
  const ctx = { axonHotkey: AXON, nonces: new Map<string, bigint>(), nowNs: NOW + 60_000_000_000n };
  // SDK axons skip the window for version < 7.2.0; the version header is unsigned, so we never skip it.
  const old = verifyRequest(
    parse(signRequest(wallet, { dendrite: { ...otherDendrite(wallet), version: 0 } })),
    ctx,
  );
  assert.ok(!old.ok && old.status === 401);
  // The timeout header is unsigned too: a replay claiming a huge timeout still meets the capped window.
  const replayed = { ...signRequest(wallet), timeout: "1e9" };
  const late = NOW + BigInt(MAX_WINDOW_TIMEOUT_S + 5) * 1_000_000_000n;
  assert.ok(!verifyRequest(parse(replayed), { ...ctx, nowNs: late }).ok);
  assert.ok(verifyRequest(parse(replayed), { ...ctx, nowNs: NOW + 100_000_000_000n }).ok);
});

Deno.test("pruneNonces() drops only entries older than any acceptable first request", () => {
  const store = new Map([["old", NOW - 200_000_000_000n], ["recent", NOW - 1_000_000_000n]]);
  assert.deepEqual([...pruneNonces(store, NOW).keys()], ["recent"]);
});

Deno.test("verifyBodyHash() compares the parsed body's hash fields with computed_body_hash", () => {
  const body = parsePyJson('{"a": 1.0, "b": [1, 2.0], "c": "x"}') as Record<string, unknown>;
  assert.ok(body.a instanceof PyFloat);
  const headers = parse({ computed_body_hash: "deadbeef" });
  const res = verifyBodyHash(headers, [body.a as PyFloat]);
  assert.ok(!res.ok && res.status === 401 && res.header === "computed_body_hash");
});

const HEADER_NAMES = [
  "name",
  "timeout",
  "computed_body_hash",
  "bt_header_axon_hotkey",
  "bt_header_dendrite_hotkey",
  "bt_header_dendrite_nonce",
  "bt_header_dendrite_uuid",
  "bt_header_dendrite_signature",
  "bt_header_dendrite_version",
];

Deno.test("parseRequestHeaders() and verifyRequest() never throw on random headers", () => {
  const value = fc.oneof(
    fc.string(),
    fc.bigInt().map(String),
    fc.double().map(String),
    fc.constantFrom("nan", "-inf", "1_0", " 7 ", "0x" + "ab".repeat(64), AXON),
  );
  const headers = fc.dictionary(fc.oneof(fc.constantFrom(...HEADER_NAMES), fc.string()), value);
  fc.assert(
    fc.property(headers, fc.bigInt({ min: 0n, max: 1n << 64n }), (h, now) => {
      const parsed = parseRequestHeaders(h);
      if (!parsed.ok) return assert.ok(parsed.status === 400 && parsed.header !== null);
      const res = verifyRequest(parsed.headers, { axonHotkey: AXON, nonces: new Map(), nowNs: now });
      assert.ok(!res.ok, "a random request never verifies");
      assert.ok(verifyBodyHash(parsed.headers, [h.name ?? null]) !== undefined);
    }),
    { numRuns: 2000 },
  );
});
