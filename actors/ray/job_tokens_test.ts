import assert from "node:assert/strict";
import { join } from "node:path";
import { type JobClaims, KEY_BYTES, loadOrCreateKey, mintToken, verifyToken } from "./job_tokens.ts";

const KEY = new Uint8Array(KEY_BYTES).map((_, i) => i);
const CLAIMS: JobClaims = { scope: "read", taskId: "t-1", submissionId: "satori-t-1-a1", expiresMs: 10_000 };

const b64url = (bytes: Uint8Array) => bytes.toBase64({ alphabet: "base64url", omitPadding: true });
const encodeClaims = (claims: unknown) => b64url(new TextEncoder().encode(JSON.stringify(claims)));

Deno.test("verifyToken() returns the claims mintToken() signed, before they expire", async () => {
  const token = await mintToken(KEY, CLAIMS);
  assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  assert.deepEqual(await verifyToken(KEY, token, 9_999), { ok: true, claims: CLAIMS });
  const write = await mintToken(KEY, { ...CLAIMS, scope: "write" });
  assert.deepEqual(await verifyToken(KEY, write, 0), { ok: true, claims: { ...CLAIMS, scope: "write" } });
});

Deno.test("verifyToken() says bad_signature when the payload, the signature or the key differ", async () => {
  const token = await mintToken(KEY, CLAIMS);
  const [, sig] = token.split(".");
  // A node turning its read token into a write token, or into another task's, keeps the old signature.
  const asWrite = `${encodeClaims({ ...CLAIMS, scope: "write" })}.${sig}`;
  const otherTask = `${encodeClaims({ ...CLAIMS, taskId: "t-2" })}.${sig}`;
  const longer = `${encodeClaims({ ...CLAIMS, expiresMs: 99_999 })}.${sig}`;
  for (const forged of [asWrite, otherTask, longer]) {
    assert.deepEqual(await verifyToken(KEY, forged, 0), { ok: false, reason: "bad_signature" });
  }
  const flipped = token.slice(0, -2) + (token.at(-2) === "A" ? "B" : "A") + token.at(-1);
  assert.deepEqual(await verifyToken(KEY, flipped, 0), { ok: false, reason: "bad_signature" });
  const otherKey = new Uint8Array(KEY_BYTES).fill(7);
  assert.deepEqual(await verifyToken(otherKey, token, 0), { ok: false, reason: "bad_signature" });
});

Deno.test("verifyToken() says expired from expiresMs on, by the clock value it is given", async () => {
  const token = await mintToken(KEY, { ...CLAIMS, expiresMs: 1_000 });
  assert.equal((await verifyToken(KEY, token, 999)).ok, true);
  assert.deepEqual(await verifyToken(KEY, token, 1_000), { ok: false, reason: "expired" });
  assert.deepEqual(await verifyToken(KEY, token, 5_000_000), { ok: false, reason: "expired" });
});

Deno.test("verifyToken() says malformed when the shape, the encoding or the signed claims are wrong", async () => {
  const token = await mintToken(KEY, CLAIMS);
  const [payload, sig] = token.split(".");
  for (
    const bad of [
      "",
      ".",
      payload,
      `${token}.x`,
      `${payload}.`,
      `.${sig}`,
      `${payload}=.${sig}`,
      `a+b.${sig}`,
    ]
  ) {
    assert.deepEqual(await verifyToken(KEY, bad, 0), { ok: false, reason: "malformed" }, `token ${bad}`);
  }
  // Correctly signed, yet claims the schema refuses: a task id that would step out of its folder.
  const sign = async (p: string) => {
    const k = await crypto.subtle.importKey("raw", KEY, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return `${p}.${b64url(new Uint8Array(await crypto.subtle.sign("HMAC", k, new TextEncoder().encode(p))))}`;
  };
  const escaping = await sign(encodeClaims({ ...CLAIMS, taskId: "../state" }));
  assert.deepEqual(await verifyToken(KEY, escaping, 0), { ok: false, reason: "malformed" });
  const extra = await sign(encodeClaims({ ...CLAIMS, admin: true }));
  assert.deepEqual(await verifyToken(KEY, extra, 0), { ok: false, reason: "malformed" });
  const notJson = await sign(b64url(new TextEncoder().encode("{nope")));
  assert.deepEqual(await verifyToken(KEY, notJson, 0), { ok: false, reason: "malformed" });
});

Deno.test("mintToken() refuses claims the schema refuses", async () => {
  await assert.rejects(mintToken(KEY, { ...CLAIMS, taskId: "a/b" }));
  await assert.rejects(mintToken(KEY, { ...CLAIMS, scope: "admin" as "read" }));
});

Deno.test("loadOrCreateKey() creates 32 random bytes with mode 0600 once and reuses them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "state", "job_key");
    const first = await loadOrCreateKey(path);
    assert.equal(first.length, KEY_BYTES);
    assert.notDeepEqual(first, new Uint8Array(KEY_BYTES));
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const second = await loadOrCreateKey(path);
    assert.deepEqual(second, first);
    // A job re-attached after a restart still presents a token the reloaded key accepts.
    const token = await mintToken(first, CLAIMS);
    assert.equal((await verifyToken(second, token, 0)).ok, true);
    assert.deepEqual([...Deno.readDirSync(join(dir, "state"))].map((e) => e.name), ["job_key"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadOrCreateKey() refuses a key file of the wrong size and narrows a readable one to 0600", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const short = join(dir, "short");
    await Deno.writeTextFile(short, "s3cret-key-bytes");
    await assert.rejects(loadOrCreateKey(short), (e: Error) => {
      assert.match(e.message, /expected 32 bytes, found 16/);
      assert.ok(!e.message.includes("s3cret"), "the error never shows the key");
      return true;
    });
    const open = join(dir, "open");
    await Deno.writeFile(open, KEY, { mode: 0o644 });
    await Deno.chmod(open, 0o644);
    assert.deepEqual(await loadOrCreateKey(open), KEY);
    assert.equal((await Deno.stat(open)).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
