import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import {
  ConfigSchema,
  formatEffectiveConfig,
  loadConfig,
  parseConfig,
  parseVisibleDevices,
  resolveConfigPath,
} from "./config.ts";
import { ConfigError, ConfigErrors } from "./errors.ts";

const root = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
const HOME = { HOME: "/home/miner" };

/** The located messages parseConfig throws for `text`, in order. */
function problems(text: string, file = "config.yml"): string[] {
  try {
    parseConfig(text, file, HOME);
  } catch (e) {
    assert.ok(e instanceof ConfigErrors, `expected ConfigErrors, got ${e}`);
    assert.ok(e.errors.every((x) => x instanceof ConfigError && x.name === "ConfigError"));
    return e.errors.map((x) => x.message);
  }
  assert.fail("expected the config to be rejected");
}

function keysOf(value: unknown, prefix = ""): string[] {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return [prefix];
  return Object.entries(value).flatMap(([k, v]) => keysOf(v, prefix ? `${prefix}.${k}` : k));
}

Deno.test("parseConfig() accepts config.example.yml, which holds every key at its default", async () => {
  const text = await Deno.readTextFile(`${root}/config.example.yml`);
  const cfg = parseConfig(text, "config.example.yml", HOME);
  const example = parse(text);
  assert.deepEqual(keysOf(example).sort(), keysOf(ConfigSchema.parse({})).sort());
  assert.deepEqual(ConfigSchema.parse(example), ConfigSchema.parse({}));
  assert.equal(cfg.wallet.path, "/home/miner/.bittensor/wallets");
});

Deno.test("parseConfig() gives the embedded defaults when the file is empty", () => {
  const cfg = parseConfig("", null, {});
  assert.equal(cfg.bittensor.netuid, 119);
  assert.equal(cfg.axon.port, 8001);
  assert.equal(cfg.axon.external_ip, null);
  assert.equal(cfg.training.image.base_model, "black-forest-labs/FLUX.1-dev");
  assert.equal(cfg.logging.level, "info");
  assert.equal(cfg.huggingface.token, null);
  assert.deepEqual(cfg.runtime, { configFile: null, visibleDevices: null });
});

Deno.test("parseConfig() locates a wrong type at its key: line 12, column 3", () => {
  const text = "# comment\nwallet:\n  name: a\n" + "\n".repeat(7) + "miner:\n  max_queue_size: ten\n";
  assert.deepEqual(problems(text), [
    'config.yml:12:3 miner.max_queue_size: expected a positive integer, got "ten"',
  ]);
});

Deno.test("parseConfig() reports bad YAML with the yaml library's line and column", () => {
  assert.deepEqual(problems("miner:\n  devices: [0, 1\naxon:\n  port: 1\n"), [
    "config.yml:3:1: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]",
  ]);
  assert.deepEqual(problems("axon:\n  port: 1\n  port: 2\n"), [
    "config.yml:3:3: invalid YAML: Map keys must be unique",
  ]);
});

Deno.test("parseConfig() reports a required value left empty or null", () => {
  assert.deepEqual(problems("axon:\n  enabled: true\n  port:\n"), [
    "config.yml:3:3 axon.port: expected an integer from 1 to 65535, got no value",
  ]);
  assert.deepEqual(problems("axon:\n  port: null\n"), [
    "config.yml:2:3 axon.port: expected an integer from 1 to 65535, got null",
  ]);
});

Deno.test("parseConfig() reports unknown keys at the key, with a suggestion when one is close", () => {
  assert.deepEqual(problems("miner:\n  max_queue: 3\n  colour: red\nbitensor: {}\n"), [
    'config.yml:2:3 miner: unknown key "max_queue" (did you mean "max_queue_size"?)',
    'config.yml:3:3 miner: unknown key "colour"',
    'config.yml:4:1: unknown key "bitensor" (did you mean "bittensor"?)',
  ]);
});

Deno.test("parseConfig() reports bad URLs, enums, booleans, IPs and list items in human terms", () => {
  const text = [
    "huggingface:",
    "  hub_url: huggingface.co",
    "  private: yes please",
    "bittensor:",
    "  chain_endpoint: https://entrypoint-finney.opentensor.ai",
    "logging:",
    "  level: verbose",
    "axon:",
    "  external_ip: 1.2.3",
    "miner:",
    "  devices: [0, -1]",
    "training: 5",
  ].join("\n");
  assert.deepEqual(problems(text), [
    'config.yml:2:3 huggingface.hub_url: expected a URL such as "https://…", got "huggingface.co"',
    'config.yml:3:3 huggingface.private: expected a boolean (true or false), got "yes please"',
    'config.yml:5:3 bittensor.chain_endpoint: expected a URL such as "wss://…", ' +
    'got "https://entrypoint-finney.opentensor.ai"',
    'config.yml:7:3 logging.level: expected one of "debug", "info", "warning", "error", got "verbose"',
    'config.yml:9:3 axon.external_ip: expected an IP address such as "0.0.0.0", got "1.2.3"',
    "config.yml:11:16 miner.devices[1]: expected a GPU index (a non-negative integer), got -1",
    "config.yml:12:1 training: expected a mapping, got 5",
  ]);
});

Deno.test("parseConfig() never echoes a mistyped token", () => {
  assert.deepEqual(problems("huggingface:\n  token: 123456789\n"), [
    "config.yml:2:3 huggingface.token: expected a token string or null, got a number (hidden)",
  ]);
});

Deno.test("parseConfig() rejects a file that is not a mapping", () => {
  assert.deepEqual(problems("- a\n- b\n"), ["config.yml:1:1: expected a mapping, got a list"]);
});

Deno.test("parseConfig() lets HF_TOKEN win over HUGGINGFACE_TOKEN over the file", () => {
  const text = "huggingface:\n  token: hf_from_file\n";
  const token = (env: Record<string, string>) => parseConfig(text, "c.yml", env).huggingface.token;
  assert.equal(token({}), "hf_from_file");
  assert.equal(token({ HUGGINGFACE_TOKEN: "hf_b" }), "hf_b");
  assert.equal(token({ HF_TOKEN: "hf_a", HUGGINGFACE_TOKEN: "hf_b" }), "hf_a");
  assert.equal(token({ HF_TOKEN: "", HUGGINGFACE_TOKEN: "hf_b" }), "hf_b");
});

Deno.test("parseConfig() expands ~ in wallet.path and lets BT_WALLET_PATH win", () => {
  assert.equal(parseConfig("wallet:\n  path: ~/w\n", null, HOME).wallet.path, "/home/miner/w");
  assert.equal(
    parseConfig("", null, { ...HOME, BT_WALLET_PATH: "/srv/wallets" }).wallet.path,
    "/srv/wallets",
  );
});

Deno.test("parseConfig() reads wallet.password_file, null by default, with ~ expanded", () => {
  assert.equal(parseConfig("", null, HOME).wallet.password_file, null);
  const cfg = parseConfig("wallet:\n  password_file: ~/.hotkey-pass\n", null, HOME);
  assert.equal(cfg.wallet.password_file, "/home/miner/.hotkey-pass");
  assert.throws(() => parseConfig("wallet:\n  password_file: 12\n", "c.yml", HOME), /a file path or null/);
});

Deno.test("parseVisibleDevices() reads CUDA_VISIBLE_DEVICES as CUDA does", () => {
  assert.equal(parseVisibleDevices(undefined), null);
  assert.deepEqual(parseVisibleDevices(""), []);
  assert.deepEqual(parseVisibleDevices("0, 2"), ["0", "2"]);
  assert.deepEqual(parseVisibleDevices("GPU-8a3c-11,1"), ["GPU-8a3c-11", "1"]);
  assert.deepEqual(parseVisibleDevices("1,-1,2"), ["1"]);
  assert.deepEqual(parseConfig("", null, { CUDA_VISIBLE_DEVICES: "3,1" }).runtime.visibleDevices, ["3", "1"]);
});

Deno.test("resolveConfigPath() prefers the argument, then MINER_CONFIG, then miner/config.yml, then config.yml", () => {
  const all = () => true;
  assert.equal(resolveConfigPath({ MINER_CONFIG: "m.yml" }, "arg.yml", all), "arg.yml");
  assert.equal(resolveConfigPath({ MINER_CONFIG: "m.yml" }, undefined, all), "m.yml");
  assert.equal(resolveConfigPath({}, undefined, all), "miner/config.yml");
  assert.equal(resolveConfigPath({}, undefined, (p) => p === "config.yml"), "config.yml");
  assert.equal(resolveConfigPath({}, undefined, () => false), null);
});

Deno.test("loadConfig() reads the file MINER_CONFIG names and says when it is missing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/miner.yml`;
    await Deno.writeTextFile(file, "miner:\n  max_queue_size: 7\n");
    const cfg = await loadConfig({ MINER_CONFIG: file });
    assert.equal(cfg.miner.max_queue_size, 7);
    assert.equal(cfg.runtime.configFile, file);
    await assert.rejects(
      () => loadConfig({ MINER_CONFIG: `${dir}/nope.yml` }),
      (e: unknown) =>
        e instanceof ConfigErrors && e.message === `${dir}/nope.yml: Cannot read config: file not found`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("formatEffectiveConfig() masks the token and prints YAML that validates again", () => {
  const cfg = parseConfig("miner:\n  max_queue_size: 9\n", "c.yml", { HF_TOKEN: "hf_secretsecretsecret" });
  const out = formatEffectiveConfig(cfg);
  assert.ok(!out.includes("hf_secretsecretsecret"));
  assert.match(out, /token: "\*\*\*"/);
  assert.match(out, /^# config file: c\.yml$/m);
  const again = parseConfig(out, "out.yml", {});
  assert.equal(again.miner.max_queue_size, 9);
  assert.equal(
    parseConfig(formatEffectiveConfig(parseConfig("", null, {})), null, {}).huggingface.token,
    null,
  );
});

async function checkConfig(args: string[]) {
  const script = `${root}/core/testdata/check_config.ts`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    cwd: `${root}/core/testdata`,
    env: { HF_TOKEN: "hf_abcdefghijklmnopqrstuvwxyz" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

Deno.test("loadConfigOrExit() exits 2 with every located problem and no stack trace", async () => {
  const { code, stderr, stdout } = await checkConfig(["bad_config.yml"]);
  assert.equal(code, 2);
  assert.equal(stdout, "");
  assert.deepEqual(stderr.trim().split("\n"), [
    'bad_config.yml:5:3 miner.max_queue_size: expected a positive integer, got "ten"',
    'bad_config.yml:6:3 miner: unknown key "max_queue" (did you mean "max_queue_size"?)',
    'bad_config.yml:8:3 huggingface.hub_url: expected a URL such as "https://…", got "huggingface.co"',
    "bad_config.yml:10:3 axon.port: expected an integer from 1 to 65535, got no value",
  ]);
  assert.doesNotMatch(stderr, /^\s+at /m);
});

Deno.test("loadConfigOrExit() returns the config of a valid file, token masked when printed", async () => {
  const { code, stdout } = await checkConfig(["../../config.example.yml"]);
  assert.equal(code, 0);
  assert.match(stdout, /^# config file: \.\.\/\.\.\/config\.example\.yml$/m);
  assert.match(stdout, /token: "\*\*\*"/);
  assert.ok(!stdout.includes("hf_abcdefghijklmnopqrstuvwxyz"));
});

Deno.test("parseConfig() reads dataset limits and refuses an allow_hosts entry that is no host", () => {
  const cfg = parseConfig("", null, {});
  assert.deepEqual(cfg.dataset, {
    max_bytes: 10 * 1024 ** 3,
    first_byte_timeout_s: 30,
    idle_timeout_s: 30,
    total_timeout_s: 1800,
    allow_hosts: [],
  });
  const list = "dataset:\n  allow_hosts: [127.0.0.1, 10.0.0.0/8, 'fd00::/8', files.local]\n";
  const ok = parseConfig(list, null, {});
  assert.deepEqual(ok.dataset.allow_hosts, ["127.0.0.1", "10.0.0.0/8", "fd00::/8", "files.local"]);
  assert.deepEqual(problems("dataset:\n  allow_hosts: [127.0.0.1, not a host]\n  idle_timeout_s: 0\n"), [
    "config.yml:2:28 dataset.allow_hosts[1]: expected a hostname, IP address or CIDR range such as " +
    '"127.0.0.1" or "10.0.0.0/8", got "not a host"',
    "config.yml:3:3 dataset.idle_timeout_s: expected a positive number, got 0",
  ]);
});

Deno.test("parseConfig() takes Hub ids and whole absolute folders as allowed base models, nothing else", () => {
  const ok = parseConfig(
    "training:\n  allowed_base_models: [org/name, /models/tiny]\n  limits: { max_steps: 10 }\n",
    "config.yml",
    HOME,
  );
  assert.deepEqual(ok.training.allowed_base_models, ["org/name", "/models/tiny"]);
  assert.equal(ok.training.limits.max_steps, 10);
  assert.equal(ok.training.limits.max_rank, 256, "unset caps keep their defaults");
  const what = 'a Hub model id such as "org/name" or an absolute folder path such as "/models/tiny"';
  assert.deepEqual(
    problems(
      "training:\n  allowed_base_models: [tiny, ../models/x, /models/../etc, /models/]\n" +
        "miner:\n  fairness: { max_share: 1.5 }\n",
    ),
    [
      `config.yml:2:25 training.allowed_base_models[0]: expected ${what}, got "tiny"`,
      `config.yml:2:31 training.allowed_base_models[1]: expected ${what}, got "../models/x"`,
      `config.yml:2:44 training.allowed_base_models[2]: expected ${what}, got "/models/../etc"`,
      `config.yml:2:60 training.allowed_base_models[3]: expected ${what}, got "/models/"`,
      "config.yml:4:15 miner.fairness.max_share: expected a fraction of the queue above 0 and at most 1, got 1.5",
    ],
  );
});

Deno.test("parseConfig() keeps the status server on loopback unless a token is set (file or SATORI_STATUS_TOKEN)", () => {
  const defaults = parseConfig("", null, HOME).status;
  assert.deepEqual(defaults, { enabled: true, host: "127.0.0.1", port: 8002, token: null, gpu_poll_s: 5 });
  assert.deepEqual(problems("axon:\n  port: 8001\nstatus:\n  host: 0.0.0.0\n"), [
    'config.yml:4:3 status.host: expected a loopback address such as "127.0.0.1" unless status.token ' +
    '(or SATORI_STATUS_TOKEN) is set, got "0.0.0.0"',
  ]);
  const token = "a-long-enough-status-token";
  const env = { ...HOME, SATORI_STATUS_TOKEN: token };
  const fromEnv = parseConfig("status:\n  host: 0.0.0.0\n", "config.yml", env);
  assert.equal(fromEnv.status.token, token);
  const fromFile = parseConfig(`status:\n  host: "::"\n  token: ${token}\n`, "config.yml", HOME);
  assert.equal(fromFile.status.host, "::");
  assert.ok(!formatEffectiveConfig(fromFile).includes(token), "the token is masked when printed");
  const off = parseConfig("status:\n  host: 0.0.0.0\n  enabled: false\n", "config.yml", HOME);
  assert.equal(off.status.enabled, false);
  // A short token is refused without echoing it.
  assert.deepEqual(problems("status:\n  token: hunter2\n"), [
    "config.yml:2:3 status.token: expected a token of at least 16 characters or null, got a string (hidden)",
  ]);
});

Deno.test("parseConfig() refuses backend ray without a token, at cluster.backend's line", () => {
  const text = "cluster:\n  backend: ray\n";
  const [message] = problems(text);
  assert.match(message, /^config\.yml:2:3 cluster\.ray\.token: expected a Ray auth token/);
});

Deno.test("parseConfig() takes the Ray token from RAY_AUTH_TOKEN over the file, and masks it", () => {
  const text = "cluster:\n  backend: ray\n  ray:\n    token: from-the-file-0123\n";
  const cfg = parseConfig(text, "config.yml", { ...HOME, RAY_AUTH_TOKEN: "from-the-env-4567" });
  assert.equal(cfg.cluster.ray.token, "from-the-env-4567");
  const shown = formatEffectiveConfig(cfg);
  assert.ok(!shown.includes("from-the-env-4567") && !shown.includes("from-the-file-0123"));
  assert.match(shown, /token: "\*\*\*"/);
});
