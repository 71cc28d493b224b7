/**
 * actors/axon/protocol.ts against the real bittensor 10.x SDK (.venv-bt): requests the SDK's dendrite
 * signs verify in our code, requests our code signs verify in the SDK's axon logic, body hashes agree for
 * every field type, and each kind of bad request is refused with the right status and header.
 */
import assert from "node:assert/strict";
import { asPyFloat, bodyHash, parsePyJson, pyStr, type PyValue } from "../actors/axon/body_hash.ts";
import {
  buildRequest,
  type NonceStore,
  parseRequestHeaders,
  recordNonce,
  type RequestHeaders,
  verifyBodyHash,
  verifyRequest,
} from "../actors/axon/wire.ts";
import { loadWallet } from "../core/wallet.ts";
import { runSdk } from "./axon_sdk.ts";

const VALIDATOR = "old leopard transfer rib spatial phone calm indicate online fire caution review";
const VALIDATOR_SS58 = "5HDvhV6WDCjCKyrXqGQSDYqQAzkzabNhctmiDYEqgBC66BsX";
const AXON_SS58 = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"; // //Alice: any valid address

type Field = { name: string; type: string; value: unknown; required?: boolean };
const FIELDS: Field[] = [
  { name: "task_id", type: "str", value: `t-42 it's "q" é😀\n\t\u00a0`, required: true },
  { name: "steps", type: "int", value: 1000 },
  { name: "big_int", type: "int", value: -123456789 },
  { name: "lr", type: "float", value: 1 },
  { name: "tiny", type: "float", value: 1e-7 },
  { name: "huge", type: "float", value: 1e16 },
  { name: "flag", type: "bool", value: true },
  { name: "note", type: "none", value: null },
  { name: "tags", type: "list", value: ["a", "it's", 1, 2.5, true, null, { k: "v" }, []] },
  { name: "weights", type: "list[float]", value: [1, 0.5, 3e-5] },
  { name: "meta", type: "dict", value: { z: 1, a: [1, { b: null }], s: `x'y"z`, e: {} } },
  { name: "scores", type: "dict[str, float]", value: { a: 1, b: 0.25 } },
];
const HASH_FIELDS = [
  "meta",
  "task_id",
  "steps",
  "big_int",
  "lr",
  "tiny",
  "huge",
  "flag",
  "note",
  "tags",
  "weights",
  "scores",
];

/** What the axon does with a parsed body: the declared float fields become Python floats. */
function typed(body: Record<string, PyValue>, fields: Field[]): Record<string, PyValue> {
  const out = { ...body };
  const f = asPyFloat;
  for (const { name, type } of fields) {
    const v = out[name];
    if (type === "float") out[name] = f(v);
    if (type === "list[float]" && Array.isArray(v)) out[name] = v.map(f);
    if (type === "dict[str, float]" && v && typeof v === "object" && !Array.isArray(v)) {
      out[name] = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, f(x)]));
    }
  }
  return out;
}

function sdkRequest(fields: Field[], hashFields: string[], timeout = 12.0) {
  return {
    op: "request",
    mnemonic: VALIDATOR,
    axon: { ip: "127.0.0.1", port: 8001, hotkey: AXON_SS58 },
    timeout,
    synapse: "TrainingTask",
    fields,
    hash_fields: hashFields,
  };
}

/** The axon side, end to end: parse headers, verify nonce and signature, check the body hash. */
function axonCheck(headers: Record<string, string>, body: string, nonces: NonceStore, nowNs: bigint) {
  const parsed = parseRequestHeaders(headers);
  if (!parsed.ok) return parsed;
  const verified = verifyRequest(parsed.headers, { axonHotkey: AXON_SS58, nonces, nowNs });
  if (!verified.ok) return verified;
  const values = typed(parsePyJson(body) as Record<string, PyValue>, FIELDS);
  const integrity = verifyBodyHash(parsed.headers, HASH_FIELDS.map((f) => values[f] ?? null));
  return integrity.ok ? verified : integrity;
}

const nonceOf = (h: Record<string, string>) => BigInt(h.bt_header_dendrite_nonce);

Deno.test("Axon protocol interoperates with the bittensor SDK's dendrite and axon", async (t) => {
  const [req, ...singles] = await runSdk([
    sdkRequest(FIELDS, HASH_FIELDS),
    ...FIELDS.map((f) => sdkRequest([{ ...f, required: false }], [f.name])),
  ]);

  await t.step("bodyHash() equals the SDK's body_hash for each field type alone", () => {
    FIELDS.forEach((f, i) => {
      const body = typed(parsePyJson(singles[i].body) as Record<string, PyValue>, [f]);
      assert.equal(pyStr(body[f.name]), singles[i].field_strs[f.name], `str() of ${f.type}`);
      assert.equal(bodyHash([body[f.name]]), singles[i].body_hash, `hash of ${f.type}`);
    });
  });

  await t.step("an SDK dendrite request verifies: headers, signature, nonce and body hash", () => {
    assert.equal(req.headers.bt_header_dendrite_hotkey, VALIDATOR_SS58);
    const res = axonCheck(req.headers, req.body, new Map(), nonceOf(req.headers) + 1_000_000n);
    assert.equal(res.ok, true, Deno.inspect(res));
  });

  const now = nonceOf(req.headers) + 1_000_000n;
  const refused = (
    headers: Record<string, string>,
    body = req.body,
    nonces: NonceStore = new Map(),
    at = now,
  ) =>
    axonCheck(headers, body, nonces, at) as {
      ok: boolean;
      status?: number;
      header?: string;
      message?: string;
    };

  await t.step("a tampered body is refused with 401 naming computed_body_hash", () => {
    const body = req.body.replace('"steps": 1000', '"steps": 1001');
    assert.notEqual(body, req.body);
    assert.deepEqual(pick(refused(req.headers, body)), [401, "computed_body_hash"]);
  });

  await t.step("a bad signature is refused with 401 naming the signature header", () => {
    const sig = req.headers.bt_header_dendrite_signature;
    const bad = sig.slice(0, 10) + (sig[10] === "0" ? "1" : "0") + sig.slice(11);
    assert.deepEqual(pick(refused({ ...req.headers, bt_header_dendrite_signature: bad })), [
      401,
      "bt_header_dendrite_signature",
    ]);
    // A signature made for another axon does not verify at this one.
    const other = axonCheckAs(req.headers, "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty");
    assert.equal(other.ok, false);
  });

  await t.step("a missing signature is refused with 401, unlike older SDK axons", () => {
    const { bt_header_dendrite_signature: _, ...headers } = req.headers;
    const res = refused(headers);
    assert.deepEqual(pick(res), [401, "bt_header_dendrite_signature"]);
    assert.match(res.message!, /Missing Signature/);
  });

  await t.step("a stale first nonce (older than 4 s + timeout) is refused with 401", () => {
    const timeoutNs = 12_000_000_000n;
    assert.equal(
      refused(req.headers, req.body, new Map(), nonceOf(req.headers) + 3_999_000_000n + timeoutNs).ok,
      true,
    );
    const res = refused(req.headers, req.body, new Map(), nonceOf(req.headers) + 4_000_000_000n + timeoutNs);
    assert.deepEqual(pick(res), [401, "bt_header_dendrite_nonce"]);
    assert.match(res.message!, /Nonce is too old: acceptable delta is 16\.00 seconds/);
  });

  await t.step("a replayed nonce is refused with 401 once the first was recorded", () => {
    const first = axonCheck(req.headers, req.body, new Map(), now);
    assert.ok(first.ok && "endpointKey" in first);
    const nonces = recordNonce(new Map(), first);
    const res = refused(req.headers, req.body, nonces);
    assert.deepEqual(pick(res), [401, "bt_header_dendrite_nonce"]);
    assert.match(res.message!, /a newer one was last processed/);
  });

  await t.step(
    "our signed request passes the SDK axon's from_headers, default_verify and body hash",
    async () => {
      const root = await Deno.makeTempDir({ prefix: "axon_sdk_" });
      await Deno.mkdir(`${root}/v/hotkeys`, { recursive: true });
      await Deno.writeTextFile(`${root}/v/hotkeys/h`, JSON.stringify({ secretPhrase: VALIDATOR }), {
        mode: 0o600,
      });
      const { wallet } = await loadWallet({ root, name: "v", hotkey: "h", env: {} });
      const fieldValues = Object.fromEntries(FIELDS.map((f) => [f.name, f.value as PyValue]));
      const sign = {
        synapseName: "TrainingTask",
        timeout: 12,
        axon: { ip: "127.0.0.1", port: 8001, hotkey: AXON_SS58 },
        dendrite: {
          ip: "127.0.0.1",
          uuid: crypto.randomUUID(),
          version: 10_005_000,
          hotkey: wallet.hotkey.ss58,
        },
        nonceNs: BigInt(Date.now()) * 1_000_000n,
        fields: typed(fieldValues, FIELDS),
        hashFields: HASH_FIELDS,
        requiredFields: ["task_id"],
      };
      const ours = buildRequest(sign, (m) => wallet.sign(m));
      const tampered = ours.body.replace('"steps":1000', '"steps":7');
      const op = {
        op: "axon_verify",
        axon_hotkey: AXON_SS58,
        synapse: "TrainingTask",
        fields: FIELDS,
        hash_fields: HASH_FIELDS,
      };
      const [good, badBody, badSig] = await runSdk([
        { ...op, headers: ours.headers, body: ours.body },
        { ...op, headers: ours.headers, body: tampered },
        {
          ...op,
          headers: { ...ours.headers, bt_header_dendrite_nonce: String(sign.nonceNs + 1n) },
          body: ours.body,
        },
      ]);
      assert.equal(good.verified, true, good.error);
      assert.equal(badBody.verified, false);
      assert.equal(badSig.verified, false);
      assert.match(badSig.error, /Signature mismatch/);
      // And our own axon side accepts what our dendrite side built.
      const mine = axonCheck(ours.headers, ours.body, new Map(), sign.nonceNs);
      assert.equal(mine.ok, true, Deno.inspect(mine));
      await Deno.remove(root, { recursive: true });
    },
  );
});

function axonCheckAs(headers: Record<string, string>, axonHotkey: string) {
  const parsed = parseRequestHeaders(headers) as { ok: true; headers: RequestHeaders };
  return verifyRequest(parsed.headers, { axonHotkey, nonces: new Map(), nowNs: nonceOf(headers) });
}

function pick(r: { ok: boolean; status?: number; header?: string | null }) {
  return r.ok ? ["ok"] : [r.status, r.header];
}
