/**
 * What an operator copies from ops/: the PM2 ecosystem (read by node, as PM2 reads it) waits longer than
 * the miner's graceful stop and signals only `deno task start`; the systemd unit passes
 * `systemd-analyze verify` where systemd is installed.
 */
import assert from "node:assert/strict";
import { STOP_DEADLINE_MS } from "../main.ts";

const OPS = new URL("../ops/", import.meta.url).pathname;
const dec = new TextDecoder();

Deno.test("ops/ecosystem.config.cjs runs `deno task start` as satori-miner and outwaits the graceful stop", async () => {
  const out = await new Deno.Command("node", {
    args: [
      "-e",
      `process.stdout.write(JSON.stringify(require(${JSON.stringify(`${OPS}ecosystem.config.cjs`)})))`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  const [app, ...others] = JSON.parse(dec.decode(out.stdout)).apps;
  assert.equal(others.length, 0);
  assert.equal(app.name, "satori-miner");
  assert.deepEqual([app.script, ...app.args], ["deno", "task", "start"]);
  assert.equal(app.interpreter, "none");
  assert.ok(app.kill_timeout > STOP_DEADLINE_MS, `kill_timeout ${app.kill_timeout} ms`);
  assert.equal(app.treekill, false);
  assert.ok(app.exp_backoff_restart_delay > 0 && app.max_restarts > 0);
});

Deno.test("ops/satori-miner.service restarts on failure, stops with SIGTERM and outwaits the graceful stop", async () => {
  const unit = await Deno.readTextFile(`${OPS}satori-miner.service`);
  const value = (key: string) => unit.match(new RegExp(`^${key}=(.*)$`, "m"))?.[1];
  assert.equal(value("Restart"), "on-failure");
  assert.equal(value("KillSignal"), "SIGTERM");
  assert.ok(Number(value("TimeoutStopSec")) * 1000 > STOP_DEADLINE_MS);
  assert.match(value("ExecStart") ?? "", /deno task start$/);
  const which = await new Deno.Command("sh", { args: ["-c", "command -v systemd-analyze"], stdout: "null" })
    .output();
  if (!which.success) return console.log("systemd-analyze is not installed: verify skipped");
  // The unit names /usr/bin/deno (operators adjust it); verify checks it exists, so name this machine's.
  const dir = await Deno.makeTempDir({ prefix: "unit-" });
  const copy = `${dir}/satori-miner.service`;
  await Deno.writeTextFile(copy, unit.replace(/^ExecStart=\S+/m, `ExecStart=${Deno.execPath()}`));
  const verify = await new Deno.Command("systemd-analyze", {
    args: ["verify", copy],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(verify.code, 0, dec.decode(verify.stderr));
  assert.equal(dec.decode(verify.stderr).trim(), "", "no warnings");
  await Deno.remove(dir, { recursive: true });
});
