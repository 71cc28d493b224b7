import assert from "node:assert/strict";
import { fakeMiner, HOTKEY, viewOf } from "../../tests/status_fixtures.ts";
import { StatusAuth } from "./auth.ts";
import { createStatusHandler } from "./server.ts";
import { SseHub } from "./sse.ts";

const TOKEN = "planted-status-token-7f3a9c2e1b";
/** As the miner is bound with `status.host: 0.0.0.0` (config requires a token there). */
const ORIGIN = "http://203.0.113.5:8002";

function handler(token: string | null = TOKEN) {
  const miner = fakeMiner();
  return createStatusHandler({
    auth: new StatusAuth(token),
    hub: new SseHub(),
    view: () => Promise.resolve(viewOf(miner)),
    metrics: (view) => miner.telemetry.render(view),
  });
}

const get = (path: string, headers: Record<string, string> = {}) =>
  new Request(`${ORIGIN}${path}`, { headers: { host: new URL(ORIGIN).host, ...headers } });

Deno.test("createStatusHandler() refuses the page, the feed, the JSON and the metrics without the token beyond loopback", async () => {
  const handle = handler();
  for (const path of ["/", "/api/status", "/metrics", "/events", "/nope"]) {
    const res = await handle(get(path));
    const body = await res.text();
    assert.equal(res.status, 401, path);
    assert.ok(!body.includes(HOTKEY) && !body.includes("satori_tasks"), `${path} leaked the view`);
    if (path === "/") assert.match(body, /<form method="post" action="login"/);
    else assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="satori-miner"');
  }
  const logout = await handle(new Request(`${ORIGIN}/logout`, { method: "POST" }));
  assert.equal(logout.status, 401);
});

Deno.test("createStatusHandler() opens every route to the bearer token and to the login form's cookie", async () => {
  const handle = handler();
  const bearer = await handle(get("/api/status", { authorization: `Bearer ${TOKEN}` }));
  assert.equal(bearer.status, 200);
  assert.equal((await bearer.json()).miner.hotkey, HOTKEY);

  const wrong = await handle(
    new Request(`${ORIGIN}/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "token=guess",
    }),
  );
  assert.equal(wrong.status, 401);
  assert.match(await wrong.text(), /That is not the token/);

  const login = await handle(
    new Request(`${ORIGIN}/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: TOKEN }).toString(),
    }),
  );
  assert.equal(login.status, 303);
  const cookie = login.headers.get("set-cookie")!.split(";")[0];
  const page = await handle(get("/", { cookie }));
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.match(html, /assets\/uPlot\.iife\.min\.js/);
  assert.match(html, /action="logout">/, "the log-out button shows when a token is set");
  const metrics = await handle(get("/metrics", { cookie }));
  assert.match(metrics.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  assert.match(await metrics.text(), /^satori_tasks\{state="queued"\} 3$/m);
  for (const res of [bearer, login, page, metrics]) {
    assert.ok(!JSON.stringify([...res.headers]).includes(TOKEN), "the token is never sent back");
  }
});

Deno.test("createStatusHandler() serves uPlot from its npm package and the page's files to anyone", async () => {
  const handle = handler();
  const uplot = await handle(get("/assets/uPlot.iife.min.js"));
  assert.equal(uplot.status, 200);
  assert.match(await uplot.text(), /uPlot/);
  for (
    const path of ["/assets/uPlot.min.css", "/assets/dashboard.js", "/assets/dashboard.css", "/favicon.svg"]
  ) {
    const res = await handle(get(path));
    assert.equal(res.status, 200, path);
    await res.body?.cancel();
  }
  const csp = (await handle(get("/login"))).headers.get("content-security-policy")!;
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe/);
  assert.equal((await handle(get("/assets/../../deno.json"))).status, 401, "no path reaches the file system");
});

Deno.test("createStatusHandler() without a token answers only requests addressed to loopback", async () => {
  const handle = handler(null);
  const local = await handle(
    new Request("http://127.0.0.1:8002/api/status", { headers: { host: "127.0.0.1:8002" } }),
  );
  assert.equal(local.status, 200);
  await local.body?.cancel();
  const rebound = await handle(
    new Request("http://127.0.0.1:8002/api/status", { headers: { host: "evil.test" } }),
  );
  assert.equal(rebound.status, 421);
  await rebound.body?.cancel();
});
