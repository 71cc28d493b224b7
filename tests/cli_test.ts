/** The CLI as an operator meets it: a subprocess, its exit code and what it prints. */
import assert from "node:assert/strict";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

async function cli(args: string[], env: Record<string, string> = {}, cwd?: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { NO_COLOR: "1", ...env },
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("main.ts --help lists the commands and exits 0", async () => {
  const r = await cli(["--help"]);
  assert.equal(r.code, 0);
  for (const c of ["start", "local", "check-config", "status"]) {
    assert.match(r.stdout, new RegExp(`\\b${c}\\b`));
  }
});

Deno.test("main.ts refuses an unknown command with exit code 2", async () => {
  const r = await cli(["mine-harder"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Unknown command "mine-harder"/);
});

Deno.test("main.ts check-config exits 2 with located errors and no stack trace", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/config.yml`, "miner:\n  max_queue_size: ten\n  colour: blue\n");
  const r = await cli(["check-config"], { MINER_CONFIG: `${dir}/config.yml` });
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr.trim(),
    [
      `${dir}/config.yml:2:3 miner.max_queue_size: expected a positive integer, got "ten"`,
      `${dir}/config.yml:3:3 miner: unknown key "colour"`,
    ].join("\n"),
  );
  assert.doesNotMatch(r.stderr, /\bat .*\.ts:\d+/);
});

Deno.test("main.ts check-config prints the effective config with the token masked", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/config.yml`, "huggingface:\n  token: hf_fileTokenThatMustNotShow\n");
  const r = await cli(["check-config", "--config", `${dir}/config.yml`], {
    HF_TOKEN: "hf_envTokenThatWins1234",
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /token: "\*\*\*"/);
  assert.doesNotMatch(r.stdout + r.stderr, /hf_fileToken|hf_envToken/);
  assert.match(r.stdout, /max_queue_size: 100/);
});

Deno.test("main.ts status says not running on a fresh data dir", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/config.yml`, `miner:\n  data_dir: ${dir}/data\n`);
  const r = await cli(["status"], { MINER_CONFIG: `${dir}/config.yml` });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /satori-miner is not running \(data dir ".*\/data"\)\nno tasks yet/);
});

Deno.test("main.ts start without a wallet exits 1 naming the btcli command, no stack trace", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/config.yml`,
    `wallet:\n  path: ${dir}/wallets\nminer:\n  data_dir: ${dir}/data\nlogging:\n  file: ${dir}/data/miner.log\n`,
  );
  const r = await cli(["start"], { MINER_CONFIG: `${dir}/config.yml` });
  assert.equal(r.code, 1);
  assert.match(
    r.stdout + r.stderr,
    /Cannot start the miner: Cannot load wallet "default".*btcli wallet create/,
  );
  assert.doesNotMatch(r.stdout + r.stderr, /\bat .*\.ts:\d+/);
});
