import assert from "node:assert/strict";
import { HubApiError } from "@huggingface/hub";
import { fakeClock, waitFor } from "../../tests/helpers.ts";
import { classify, DEFAULT_RETRY, RetryError, type RetryNotice, serverWaitMs, withRetry } from "./retry.ts";

const hubError = (status: number) => new HubApiError("http://hub/api/x", status, "req-1", `status ${status}`);
const noJitter = { ...DEFAULT_RETRY, jitter: 0 };

function responses(...statuses: (number | "network")[]): typeof fetch {
  return () => {
    const next = statuses.shift() ?? 200;
    if (next === "network") return Promise.reject(new TypeError("error sending request: connection refused"));
    return Promise.resolve(new Response(null, { status: next }));
  };
}

/** Calls `fetch` once and throws a HubApiError on non-2xx, as the client does. */
async function call(f: typeof fetch): Promise<string> {
  const res = await f("http://hub/api/x");
  if (!res.ok) throw hubError(res.status);
  return "done";
}

Deno.test("serverWaitMs() reads Retry-After seconds and dates, and an exhausted RateLimit window", () => {
  assert.equal(serverWaitMs(new Headers({ "Retry-After": "7" }), 0), 7_000);
  assert.equal(serverWaitMs(new Headers({ "Retry-After": new Date(65_000).toUTCString() }), 5_000), 60_000);
  assert.equal(serverWaitMs(new Headers({ RateLimit: '"api";r=0;t=42' }), 0), 43_000);
  assert.equal(serverWaitMs(new Headers({ RateLimit: '"api";r=5;t=42' }), 0), null);
  assert.equal(serverWaitMs(new Headers(), 0), null);
});

Deno.test("classify() retries 429, 5xx, 409, 412 and network errors, never 401, 403 or 400", () => {
  for (const s of [408, 409, 412, 429, 500, 502, 503, 504]) {
    assert.equal(classify(hubError(s), false).kind, "retry");
  }
  for (const s of [400, 401, 403, 404, 422]) assert.equal(classify(hubError(s), false).kind, "fatal");
  assert.equal(classify(new TypeError("connection reset"), true).kind, "retry");
  assert.equal(classify(new TypeError("bad token format"), false).kind, "fatal");
});

Deno.test("withRetry() backs off 1 s then 2 s on the injected clock and returns the third try", async () => {
  const fake = fakeClock();
  const notices: RetryNotice[] = [];
  const deps = { fetch: responses(500, 503), clock: fake.clock, random: () => 0.5, policy: noJitter };
  const result = withRetry("call", { ...deps, onRetry: (n) => notices.push(n) }, call);
  await waitFor(() => notices.length === 1);
  await fake.tick(999);
  assert.equal(notices.length, 1);
  await fake.tick(1);
  await waitFor(() => notices.length === 2);
  await fake.tick(2_000);
  assert.equal(await result, "done");
  assert.deepEqual(notices.map((n) => [n.attempt, n.delayMs, n.status]), [[1, 1_000, 500], [2, 2_000, 503]]);
});

Deno.test("withRetry() fails at once on 401 with the status kept", async () => {
  const fake = fakeClock();
  const deps = { fetch: responses(401), clock: fake.clock, random: () => 0.5, policy: noJitter };
  const err = await withRetry("check token", deps, call).catch((e) => e);
  assert.ok(err instanceof RetryError);
  assert.equal(err.attempts, 1);
  assert.equal(err.last.status, 401);
  assert.match(err.message, /^Cannot check token after 1 attempt: status 401/);
});

Deno.test("withRetry() retries a network error and gives up after the policy's attempts", async () => {
  const fake = fakeClock();
  const policy = { ...noJitter, attempts: 3, minMs: 10 };
  const notices: RetryNotice[] = [];
  const deps = { fetch: responses("network", 500, 500), clock: fake.clock, random: () => 0.5, policy };
  const result = withRetry("call", { ...deps, onRetry: (n) => notices.push(n) }, call).catch((e) => e);
  await waitFor(() => notices.length === 1);
  assert.equal(notices[0].status, null);
  await fake.tick(10);
  await waitFor(() => notices.length === 2);
  await fake.tick(20);
  const err = await result;
  assert.ok(err instanceof RetryError);
  assert.equal(err.attempts, 3);
  assert.equal(err.last.status, 500);
});
