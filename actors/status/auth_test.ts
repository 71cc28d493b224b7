import assert from "node:assert/strict";
import { isLoopbackHost, sameSecret, StatusAuth } from "./auth.ts";

const TOKEN = "s3cret-status-token-0123456789";
const req = (headers: Record<string, string> = {}) =>
  new Request("http://10.0.0.5:8002/api/status", { headers });

Deno.test("StatusAuth.check() takes the token as a bearer header or as the login cookie, nothing else", () => {
  const auth = new StatusAuth(TOKEN);
  assert.equal(auth.check(req()), "unauthorized");
  assert.equal(auth.check(req({ authorization: `Bearer ${TOKEN}` })), "ok");
  assert.equal(auth.check(req({ authorization: `Bearer ${TOKEN}x` })), "unauthorized");
  assert.equal(auth.check(req({ authorization: `Basic ${btoa(`u:${TOKEN}`)}` })), "unauthorized");
  const cookie = auth.login(TOKEN);
  assert.ok(typeof cookie === "string" && cookie !== "throttled");
  const value = cookie.split(";")[0];
  assert.ok(!value.includes(TOKEN), "the cookie holds a keyed hash, not the token");
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  assert.equal(auth.check(req({ cookie: `other=1; ${value}` })), "ok");
  assert.equal(auth.check(req({ cookie: `satori_status=${TOKEN}` })), "unauthorized");
});

Deno.test("StatusAuth.login() throttles after 10 wrong tokens in a minute", () => {
  let now = 0;
  const auth = new StatusAuth(TOKEN, () => now);
  for (let i = 0; i < 10; i++) assert.equal(auth.login(`wrong-${i}`), null);
  assert.equal(auth.login(TOKEN), "throttled");
  now += 60_001;
  assert.notEqual(auth.login(TOKEN), "throttled");
});

Deno.test("StatusAuth.check() without a token answers only requests addressed to loopback (DNS rebinding)", () => {
  const auth = new StatusAuth(null);
  const at = (host: string) => new Request("http://127.0.0.1:8002/", { headers: { host } });
  assert.equal(auth.check(at("127.0.0.1:8002")), "ok");
  assert.equal(auth.check(at("localhost:8002")), "ok");
  assert.equal(auth.check(at("[::1]:8002")), "ok");
  assert.equal(auth.check(at("evil.example:8002")), "bad_host");
});

Deno.test("isLoopbackHost() and sameSecret() decide by value", () => {
  assert.deepEqual(
    ["127.0.0.1", "127.1.2.3", "::1", "localhost", "0.0.0.0", "10.0.0.1", "::"].map(isLoopbackHost),
    [
      true,
      true,
      true,
      true,
      false,
      false,
      false,
    ],
  );
  assert.equal(sameSecret("abc", "abc"), true);
  assert.equal(sameSecret("abc", "abcd"), false);
});
