/**
 * Per-job capability tokens for the job files server: a Ray node holds no miner secret, only a URL
 * that names one task, one submission, read or write, and an expiry. A token is
 * `base64url(JSON claims) "." base64url(HMAC-SHA256(key, first part))`, so the miner checks it
 * without keeping a table of what it handed out, and jobs re-attached after a restart still work as
 * long as the key on disk is the same. Pure apart from `loadOrCreateKey`.
 */
import { dirname } from "node:path";
import { z } from "zod";
import { TaskId } from "../../core/task.ts";

export const KEY_BYTES = 32;

export const JobScope = z.enum(["read", "write"]);
export type JobScope = z.infer<typeof JobScope>;

export const JobClaims = z.strictObject({
  scope: JobScope,
  // The task id becomes a folder name on the miner: the same rule as everywhere else.
  taskId: TaskId,
  submissionId: z.string().min(1).max(256),
  expiresMs: z.number().int().nonnegative(),
});
export type JobClaims = z.infer<typeof JobClaims>;

export type TokenCheck =
  | { ok: true; claims: JobClaims }
  | { ok: false; reason: "malformed" | "bad_signature" | "expired" };

/**
 * The HMAC key in `path` (mode 0600), created with 32 random bytes on first use. Creation links a
 * finished temp file into place, so a crash never leaves a short key and two starts racing agree on one.
 */
export async function loadOrCreateKey(path: string): Promise<Uint8Array> {
  const existing = await readKey(path);
  if (existing) return existing;
  await Deno.mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeFile(temp, crypto.getRandomValues(new Uint8Array(KEY_BYTES)), {
      mode: 0o600,
      createNew: true,
    });
    await Deno.chmod(temp, 0o600); // the umask may only narrow it, but say it outright
    try {
      await Deno.link(temp, path);
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  } finally {
    await Deno.remove(temp).catch(() => {});
  }
  const key = await readKey(path);
  if (!key) throw new Error(`Cannot create job key "${path}": it is missing right after creation`);
  return key;
}

/** The key, or null when there is no file; a file of the wrong size is an error (never its bytes). */
async function readKey(path: string): Promise<Uint8Array | null> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  if (bytes.length !== KEY_BYTES) {
    throw new Error(`Cannot use job key "${path}": expected ${KEY_BYTES} bytes, found ${bytes.length}`);
  }
  const { mode } = await Deno.stat(path);
  // A key others could read lets them mint tokens: narrow it rather than refuse to start.
  if (mode !== null && (mode & 0o077) !== 0) await Deno.chmod(path, 0o600);
  return bytes;
}

export async function mintToken(key: Uint8Array, claims: JobClaims): Promise<string> {
  const payload = toBase64Url(new TextEncoder().encode(JSON.stringify(JobClaims.parse(claims))));
  const signature = await crypto.subtle.sign("HMAC", await hmacKey(key), ascii(payload));
  return `${payload}.${toBase64Url(new Uint8Array(signature))}`;
}

/**
 * Checks the signature first (crypto.subtle.verify compares in constant time), then the claims,
 * then the expiry: a tampered token is `bad_signature` whatever it claims.
 */
export async function verifyToken(key: Uint8Array, token: string, nowMs: number): Promise<TokenCheck> {
  const parts = token.split(".");
  if (parts.length !== 2) return { ok: false, reason: "malformed" };
  const [payload, sig] = parts;
  const signature = fromBase64Url(sig);
  if (fromBase64Url(payload) === null || signature === null) return { ok: false, reason: "malformed" };
  const valid = await crypto.subtle.verify("HMAC", await hmacKey(key), signature, ascii(payload));
  if (!valid) return { ok: false, reason: "bad_signature" };
  let claims: JobClaims;
  try {
    const parsed = JobClaims.safeParse(JSON.parse(new TextDecoder().decode(fromBase64Url(payload)!)));
    if (!parsed.success) return { ok: false, reason: "malformed" };
    claims = parsed.data;
  } catch {
    return { ok: false, reason: "malformed" };
  }
  if (nowMs >= claims.expiresMs) return { ok: false, reason: "expired" };
  return { ok: true, claims };
}

// One CryptoKey per key buffer: importing on every request would cost more than the HMAC itself.
const imported = new WeakMap<Uint8Array, Promise<CryptoKey>>();

function hmacKey(key: Uint8Array): Promise<CryptoKey> {
  if (key.length !== KEY_BYTES) throw new RangeError(`Job key must be ${KEY_BYTES} bytes, got ${key.length}`);
  let k = imported.get(key);
  if (!k) {
    k = crypto.subtle.importKey("raw", key.slice(), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
      "verify",
    ]);
    imported.set(key, k);
  }
  return k;
}

function ascii(s: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(s);
}

function toBase64Url(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}

/** Strict base64url: no padding, only its alphabet, and the one canonical spelling of the bytes. */
function fromBase64Url(s: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]+$/.test(s)) return null;
  try {
    const bytes = Uint8Array.fromBase64(s, { alphabet: "base64url" });
    return toBase64Url(bytes) === s ? bytes : null;
  } catch {
    return null;
  }
}
