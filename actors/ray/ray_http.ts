/**
 * The one round trip of the Ray client (ray_client.ts) and the errors it turns Ray's answers into: every
 * request carries the token and a deadline, every answer is read in full and checked with zod, and every
 * message names the action, the endpoint, the address, the HTTP status and Ray's own short cause, scrubbed
 * of the token.
 */
import type { z } from "zod";

/** A failed call to Ray; `status` is the HTTP status, or null when Ray could not be reached in time. */
export class RayError extends Error {
  override name = "RayError";
  constructor(message: string, readonly status: number | null, options?: ErrorOptions) {
    super(message, options);
  }
}

const CAUSE_MAX = 200;
// Ray writes a refused submission as a Python traceback; its last exception line is the cause.
const EXCEPTION_LINE = /^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt): .+/;

/** What every call needs: the normalized address, the token, the per-request bound, the fetch to use. */
export type Ctx = { address: string; token: string; timeoutMs: number; fetch: typeof fetch };
export type Answer = { status: number; text: string };

export function authHeaders(ctx: Ctx): Record<string, string> {
  return ctx.token === "" ? {} : { Authorization: `Bearer ${ctx.token}` };
}

/** One bounded round trip, body read in full; no answer in time or at all is a RayError with status null. */
export async function request(
  ctx: Ctx,
  action: string,
  method: "GET" | "POST" | "PUT",
  path: string,
  body?: string | Uint8Array,
): Promise<Answer> {
  const headers = authHeaders(ctx);
  if (body !== undefined) {
    headers["Content-Type"] = typeof body === "string" ? "application/json" : "application/octet-stream";
  }
  const where = `Cannot ${action} (${method} ${path}): Ray at ${ctx.address}`;
  try {
    const res = await ctx.fetch(ctx.address + path, {
      method,
      headers,
      body: body as BodyInit | undefined,
      signal: AbortSignal.timeout(ctx.timeoutMs),
    });
    return { status: res.status, text: await res.text() };
  } catch (e) {
    if (e instanceof DOMException && e.name === "TimeoutError") {
      throw new RayError(scrub(ctx, `${where} did not answer within ${ctx.timeoutMs} ms`), null, {
        cause: e,
      });
    }
    throw new RayError(scrub(ctx, `${where} is unreachable: ${short(rootCause(e))}`), null, { cause: e });
  }
}

/** The body of a 200 answer, checked; any other status or an unexpected body is a RayError. */
export function parseOk<T>(ctx: Ctx, action: string, endpoint: string, a: Answer, schema: z.ZodType<T>): T {
  if (a.status !== 200) throw statusError(ctx, action, endpoint, a);
  let json: unknown;
  try {
    json = JSON.parse(a.text);
  } catch {
    json = undefined;
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const detail = json === undefined
    ? `not JSON: ${short(a.text)}`
    : `${issue?.path.join(".") || "body"}: ${issue?.message ?? "invalid"}`;
  throw new RayError(
    scrub(
      ctx,
      `Cannot ${action} (${endpoint}): Ray at ${ctx.address} answered an unexpected body (${detail})`,
    ),
    a.status,
  );
}

export function statusError(ctx: Ctx, action: string, endpoint: string, a: Answer): RayError {
  const where = `Cannot ${action} (${endpoint}): Ray at ${ctx.address}`;
  if (a.status === 401 || a.status === 403) {
    return new RayError(
      scrub(ctx, `${where} refused the token (HTTP ${a.status}): check cluster.ray.token or RAY_AUTH_TOKEN`),
      a.status,
    );
  }
  return new RayError(scrub(ctx, `${where} answered HTTP ${a.status}: ${short(causeOf(a.text))}`), a.status);
}

/** Ray's reason in a few words: the last exception line of a traceback, else the first line. */
function causeOf(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  if (lines[0]?.startsWith("Traceback")) {
    const exception = lines.findLast((l) => EXCEPTION_LINE.test(l));
    if (exception) return exception;
  }
  return lines[0] ?? "(empty body)";
}

export function short(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > CAUSE_MAX ? `${line.slice(0, CAUSE_MAX - 1)}…` : line;
}

/** Deno's fetch says only "fetch failed"; the socket's reason sits at the end of the cause chain. */
export function rootCause(e: unknown): string {
  let inner = e;
  while (inner instanceof Error && inner.cause instanceof Error) inner = inner.cause;
  const message = inner instanceof Error ? inner.message : String(inner);
  return message.replace(/^error sending request for url \([^)]*\): /, "");
}

/**
 * Belt and braces: no message leaves with the token, whatever Ray or the runtime put in it. Messages never
 * interpolate the token; a token under 8 characters would match ordinary words and garble every message.
 */
export function scrub(ctx: Ctx, text: string): string {
  return containsToken(ctx, text) ? text.replaceAll(ctx.token, "<token>") : text;
}

export function containsToken(ctx: Ctx, text: string): boolean {
  return ctx.token.length >= 8 && text.includes(ctx.token);
}

export function normalizeAddress(address: string): string {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new TypeError(`Ray address "${address}" is not a URL; expected e.g. http://127.0.0.1:8265`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`Ray address "${address}" must start with http:// or https://`);
  }
  // Credentials in the address would travel into every error message.
  if (url.username !== "" || url.password !== "") {
    throw new TypeError(`Ray address must not carry credentials; put the token in cluster.ray.token`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}
