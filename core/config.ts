/**
 * The miner's config: one zod schema for the YAML file, with defaults so an empty or absent file runs
 * local mode. Loading reports every problem at once, as `file:line:col key.path: expected …, got …`,
 * so an operator fixes the file in one pass. Env is passed in (tests drive it); only
 * `loadConfigFromEnv` reads `Deno.env`.
 */
import { z } from "zod";
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, stringify } from "yaml";
import type { Document, Node } from "yaml";
import { ConfigError, ConfigErrors } from "./errors.ts";

export type Env = Record<string, string | undefined>;

// Each leaf carries its human expectation as the zod error, so every issue reads
// `expected <this>, got <value>` whatever check failed (type, range, format).
const posInt = (what = "a positive integer") => z.int({ error: what }).positive({ error: what });
const nonNegInt = (what = "a non-negative integer") => z.int({ error: what }).nonnegative({ error: what });
const posNumber = (what = "a positive number") => z.number({ error: what }).positive({ error: what });
const nonNegNumber = (what: string) => z.number({ error: what }).nonnegative({ error: what });
const bool = () => z.boolean({ error: "a boolean (true or false)" });
const text = (what = "a non-empty string") => z.string({ error: what }).min(1, { error: what });
const url = (protocols: string[], example: string) => {
  const what = `a URL such as "${example}"`;
  return z.url({ protocol: new RegExp(`^(${protocols.join("|")})$`), error: what });
};
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `one of ${values.map((v) => `"${v}"`).join(", ")}` });
// Deno.serve and the chain's axon record take literal addresses; "localhost" is the one name allowed.
const ipAddress = () => {
  const what = 'an IP address such as "0.0.0.0"';
  const isIp = (v: string) =>
    v === "localhost" || z.ipv4().safeParse(v).success || z.ipv6().safeParse(v).success;
  return z.string({ error: what }).refine(isIp, { error: what });
};
// A dataset host the operator lets the miner reach even when it is not public (local mode, tests).
const allowHost = () => {
  const what = 'a hostname, IP address or CIDR range such as "127.0.0.1" or "10.0.0.0/8"';
  const forms = [z.hostname(), z.ipv4(), z.ipv6(), z.cidrv4(), z.cidrv6()];
  return z.string({ error: what }).refine((v) => forms.some((f) => f.safeParse(v).success), { error: what });
};
const intIn = (min: number, max: number, what: string) =>
  z.int({ error: what }).min(min, { error: what }).max(max, { error: what });
const modelId = (id: string) => text('a model id such as "org/name"').default(id);
// What an operator may allow validators to name as `base_model`: a Hub repo id, or a local model
// folder given whole and absolute (no `..`), so the entry names one folder and nothing beside it.
const allowedModel = () => {
  const what = 'a Hub model id such as "org/name" or an absolute folder path such as "/models/tiny"';
  const hub = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;
  const folder = /^(?!.*(?:^|\/)\.\.?(?:\/|$))\/[^\0]*[^/\0]$/;
  return z.string({ error: what }).refine((v) => (hub.test(v) && !v.includes("..")) || folder.test(v), {
    error: what,
  });
};
const share = (what: string) => z.number({ error: what }).gt(0, { error: what }).max(1, { error: what });
// `.prefault({})` (not `.default`) so a missing section is parsed and gets its fields' defaults;
// `as never` because the generic shape hides from TypeScript that `{}` is valid input.
const section = <S extends z.core.$ZodLooseShape>(shape: S) => z.strictObject(shape).prefault({} as never);

/** A status token is a password on the network: short ones fall to guessing. */
export const MIN_STATUS_TOKEN = 16;

export const LogLevel = oneOf(["debug", "info", "warning", "error"]);
export type LogLevel = z.output<typeof LogLevel>;

export const ConfigSchema = z.strictObject({
  wallet: section({
    name: text().default("default"),
    hotkey: text().default("default"),
    path: text().default("~/.bittensor/wallets"),
    password_file: text("a file path or null").nullable().default(null),
  }),
  bittensor: section({
    netuid: nonNegInt().default(119),
    chain_endpoint: url(["ws", "wss"], "wss://…").default("wss://entrypoint-finney.opentensor.ai:443"),
    sync_interval_blocks: posInt().default(50),
  }),
  task_center: section({
    url: url(["http", "https"], "https://…").default("http://127.0.0.1:8090"),
    request_timeout_s: posNumber().default(30),
    poll_interval_s: posNumber().default(5),
    validation_timeout_s: posNumber().default(3600),
    retry_max_delay_s: posNumber().default(300),
  }),
  miner: section({
    min_stake: nonNegNumber("a non-negative number of TAO").default(1000),
    max_queue_size: posInt().default(100),
    data_dir: text().default("data"),
    devices: z.array(nonNegInt("a GPU index (a non-negative integer)"), {
      error: "null or a list of GPU indices such as [0, 1]",
    }).nullable().default(null),
    task_time_limit_s: posNumber().default(6 * 3600),
    max_attempts: posInt().default(3),
    max_interruptions: posInt().default(20),
    /** How validators share the queue (actors/queue/fairness.ts); see config.example.yml. */
    fairness: section({
      max_share: share("a fraction of the queue above 0 and at most 1").default(0.5),
      min_slots: posInt().default(1),
      reserved_slots: nonNegInt().default(5),
    }),
  }),
  huggingface: section({
    token: text("a token string or null").nullable().default(null),
    username: text("a user or organisation name or null").nullable().default(null),
    private: bool().default(true),
    hub_url: url(["http", "https"], "https://…").default("https://huggingface.co"),
  }),
  dataset: section({
    max_bytes: posInt().default(10 * 1024 ** 3),
    first_byte_timeout_s: posNumber().default(30),
    idle_timeout_s: posNumber().default(30),
    total_timeout_s: posNumber().default(1800),
    allow_hosts: z.array(allowHost(), { error: 'a list of hosts such as ["127.0.0.1"]' }).default([]),
  }),
  training: section({
    image: section({ base_model: modelId("black-forest-labs/FLUX.1-dev") }),
    text: section({ base_model: modelId("Qwen/Qwen2.5-7B-Instruct") }),
    python: text().default(".venv/bin/python"),
    /** The base-model cache every trainer shares (HF cache layout) and its disk budget (actors/cache/). */
    cache_dir: text().default("data/hf-cache"),
    cache_max_gb: posNumber().default(200),
    /** Base models validators may name besides the two above; nothing else is trained. */
    allowed_base_models: z.array(allowedModel(), { error: "a list of model ids" }).default([]),
    /** Caps on what a task may ask for, checked when it is accepted (actors/queue/policy.ts). */
    limits: section({
      max_steps: posInt().default(20_000),
      max_epochs: posNumber().default(100),
      max_rank: posInt().default(256),
      max_resolution: posInt().default(2048),
      max_seq_length: posInt().default(32_768),
      max_batch_size: posInt().default(64),
      max_gradient_accumulation: posInt().default(128),
      max_learning_rate: posNumber().default(0.1),
      max_inference_steps: posInt().default(100),
      max_quality_prompts: posInt().default(16),
    }),
  }),
  logging: section({
    level: LogLevel.default("info"),
    file: text().default("data/miner.log"),
    max_bytes: posInt().default(10 * 1024 * 1024),
    max_files: posInt().default(5),
  }),
  axon: section({
    enabled: bool().default(true),
    ip: ipAddress().default("0.0.0.0"),
    port: intIn(1, 65535, "an integer from 1 to 65535").default(8001),
    external_ip: ipAddress().nullable().default(null),
    max_body_bytes: posInt().default(1024 * 1024),
    max_connections: posInt().default(256),
    header_timeout_s: posNumber().default(10),
    body_timeout_s: posNumber().default(30),
    idle_timeout_s: posNumber().default(30),
  }),
  /** The status server: dashboard, /metrics, `main.ts status` (actors/status/). */
  status: section({
    enabled: bool().default(true),
    host: ipAddress().default("127.0.0.1"),
    port: intIn(1, 65535, "an integer from 1 to 65535").default(8002),
    token: text(`a token of at least ${MIN_STATUS_TOKEN} characters or null`)
      .min(MIN_STATUS_TOKEN, { error: `a token of at least ${MIN_STATUS_TOKEN} characters or null` })
      .nullable().default(null),
    gpu_poll_s: posNumber().default(5),
  }),
  /** Where training runs: this machine's GPUs, or a Ray cluster the operator owns (actors/ray/). */
  cluster: section({
    backend: oneOf(["local", "ray"]).default("local"),
    ray: section({
      address: url(["http", "https"], "http://10.0.0.1:8265").default("http://127.0.0.1:8265"),
      token: text("a token string or null").nullable().default(null),
      python: text().default("python3"),
      work_dir: text().default("/var/tmp/satori-ray"),
      stop_wait_s: posInt().default(120),
      poll_interval_s: posNumber().default(2),
      start_timeout_s: posNumber().default(600),
      gpu_memory_mb: posInt().default(81_920),
      files: section({
        listen: ipAddress().default("127.0.0.1"),
        port: intIn(1, 65535, "an integer from 1 to 65535").default(8003),
        url: url(["http", "https"], "http://10.0.0.1:8003").nullable().default(null),
        max_file_bytes: posInt().default(8 * 1024 ** 3),
      }),
    }),
  }),
});

/** What the file holds, after defaults. */
export type FileConfig = z.output<typeof ConfigSchema>;
export type LoggingConfig = FileConfig["logging"];
export type DatasetConfig = FileConfig["dataset"];

/** The effective config: the file after defaults and env overrides, plus facts from the env. */
export type MinerConfig = FileConfig & {
  readonly runtime: {
    /** The file read, or null when the embedded defaults are used. */
    readonly configFile: string | null;
    /** CUDA_VISIBLE_DEVICES as a list (indices or GPU-/MIG- UUIDs); null when unset (all visible). */
    readonly visibleDevices: string[] | null;
  };
};

/** CUDA stops reading the list at the first invalid entry ("-1" hides every device); we do the same. */
export function parseVisibleDevices(value: string | undefined): string[] | null {
  if (value === undefined) return null;
  const out: string[] = [];
  for (const raw of value.split(",")) {
    const entry = raw.trim();
    if (!/^(\d+|GPU-[\w-]+|MIG-[\w/-]+)$/.test(entry)) break;
    out.push(entry);
  }
  return out;
}

/** Picks the file: explicit path, then MINER_CONFIG, then miner/config.yml, then config.yml, else none. */
export function resolveConfigPath(env: Env, path?: string, exists = fileExists): string | null {
  if (path) return path;
  if (env.MINER_CONFIG) return env.MINER_CONFIG;
  return ["miner/config.yml", "config.yml"].find(exists) ?? null;
}

/** Parses and validates YAML text; throws ConfigErrors listing every located problem. */
export function parseConfig(text: string, file: string | null, env: Env): MinerConfig {
  const name = file ?? "<defaults>";
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigErrors(doc.errors.map((e) => {
      const [detail] = e.message.split(/ at line \d+, column \d+/);
      const pos = e.linePos?.[0];
      return new ConfigError(name, pos?.line ?? null, pos?.col ?? null, "", `invalid YAML: ${detail}`);
    }));
  }
  const raw = doc.toJS() ?? {};
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const errors = result.error.issues.flatMap((i) => describeIssue(i, { raw, doc, lines, file: name }));
    errors.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
    throw new ConfigErrors(errors);
  }
  const cfg = applyEnv(result.data, file, env);
  if (cfg.cluster.backend === "ray" && cfg.cluster.ray.token === null) {
    const { line, col } = lines.linePos(locate(doc, ["cluster", "backend"]) ?? 0);
    const what = "a Ray auth token in cluster.ray.token or RAY_AUTH_TOKEN: the Jobs API runs any " +
      'command it is sent, so the miner never talks to a cluster without one (got backend "ray" and no token)';
    throw new ConfigErrors([new ConfigError(name, line, col, "cluster.ray.token", `expected ${what}`)]);
  }
  const insecure = statusTokenProblem(cfg);
  if (insecure) {
    const { line, col } = lines.linePos(locate(doc, ["status", "host"]) ?? 0);
    throw new ConfigErrors([new ConfigError(name, line, col, "status.host", insecure)]);
  }
  return cfg;
}

/** Any host but loopback puts the status page on a network: it needs a token there (file or env). */
function statusTokenProblem(cfg: MinerConfig): string | null {
  const { enabled, host, token } = cfg.status;
  const loopback = host === "localhost" || host === "::1" || /^127\./.test(host);
  if (!enabled || loopback || token !== null) return null;
  return `expected a loopback address such as "127.0.0.1" unless status.token (or SATORI_STATUS_TOKEN) ` +
    `is set, got "${host}"`;
}

/** Reads the resolved file (or none) and validates it; throws ConfigErrors. */
export async function loadConfig(env: Env, path?: string): Promise<MinerConfig> {
  const file = resolveConfigPath(env, path);
  if (file === null) return parseConfig("", null, env);
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "file not found" : (e as Error).message;
    throw new ConfigErrors([
      new ConfigError(file, null, null, "", `Cannot read config: ${why}`, { cause: e }),
    ]);
  }
  return parseConfig(text, file, env);
}

/** The one place that reads the process environment. */
export function loadConfigFromEnv(path?: string): Promise<MinerConfig> {
  return loadConfig(Deno.env.toObject(), path);
}

/** The effective config as YAML, secrets masked, with where it came from as comments. */
export function formatEffectiveConfig(cfg: MinerConfig): string {
  const { runtime, ...file } = cfg;
  const masked = {
    ...file,
    huggingface: { ...file.huggingface, token: file.huggingface.token && "***" },
    status: { ...file.status, token: file.status.token && "***" },
    cluster: { ...file.cluster, ray: { ...file.cluster.ray, token: file.cluster.ray.token && "***" } },
  };
  const devices = runtime.visibleDevices === null
    ? "unset"
    : JSON.stringify(runtime.visibleDevices.join(","));
  return `# config file: ${runtime.configFile ?? "none (embedded defaults)"}\n` +
    `# CUDA_VISIBLE_DEVICES: ${devices}\n` + stringify(masked);
}

function applyEnv(data: FileConfig, file: string | null, env: Env): MinerConfig {
  const nonEmpty = (v: string | undefined) => (v ? v : undefined);
  const token = nonEmpty(env.HF_TOKEN) ?? nonEmpty(env.HUGGINGFACE_TOKEN) ?? data.huggingface.token;
  const walletPath = expandHome(nonEmpty(env.BT_WALLET_PATH) ?? data.wallet.path, env);
  const statusToken = nonEmpty(env.SATORI_STATUS_TOKEN) ?? data.status.token;
  const rayToken = nonEmpty(env.RAY_AUTH_TOKEN) ?? data.cluster.ray.token;
  return {
    ...data,
    cluster: { ...data.cluster, ray: { ...data.cluster.ray, token: rayToken } },
    status: { ...data.status, token: statusToken },
    wallet: {
      ...data.wallet,
      path: walletPath,
      password_file: data.wallet.password_file && expandHome(data.wallet.password_file, env),
    },
    huggingface: { ...data.huggingface, token },
    runtime: { configFile: file, visibleDevices: parseVisibleDevices(env.CUDA_VISIBLE_DEVICES) },
  };
}

function expandHome(path: string, env: Env): string {
  const home = env.HOME ?? env.USERPROFILE;
  return home && (path === "~" || path.startsWith("~/")) ? home + path.slice(1) : path;
}

function fileExists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

type Path = readonly PropertyKey[];
type Source = { raw: unknown; doc: Document; lines: LineCounter; file: string };

function describeIssue(issue: z.core.$ZodIssue, { raw, doc, lines, file }: Source): ConfigError[] {
  const at = (path: Path) => lines.linePos(locate(doc, path) ?? 0);
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => {
      const { line, col } = at([...issue.path, key]);
      const hint = suggest(key, knownKeys(issue.path));
      const detail = `unknown key "${key}"${hint ? ` (did you mean "${hint}"?)` : ""}`;
      return new ConfigError(file, line, col, keyPath(issue.path), detail);
    });
  }
  const value = valueAt(raw, issue.path);
  const expected = issue.code === "invalid_type" && issue.expected === "object" ? "a mapping" : issue.message;
  // A mistyped secret is still a secret: say what kind of value it is, never the value.
  const hide = issue.path.at(-1) === "token" && value !== "" && typeof value !== "object";
  const got = hide
    ? `a ${typeof value} (hidden)`
    : describeValue(value, doc.getIn(issue.path as unknown[], true));
  const { line, col } = at(issue.path);
  return [new ConfigError(file, line, col, keyPath(issue.path), `expected ${expected}, got ${got}`)];
}

/** `miner.devices[1]`: the path as the operator would write it. */
function keyPath(path: Path): string {
  return path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("").replace(/^\./, "");
}

/** Offset of the key for a mapping entry (as in `12:3` for `  max_queue_size: ten`), of the item in a list. */
function locate(doc: Document, path: Path): number | null {
  let node: unknown = doc.contents;
  let pos: number | null = (doc.contents as Node | null)?.range?.[0] ?? null;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === seg);
      if (!pair) break;
      pos = (pair.key as Node).range?.[0] ?? pos;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === "number" && node.items[seg]) {
      node = node.items[seg];
      pos = (node as Node).range?.[0] ?? pos;
    } else break;
  }
  return pos;
}

function valueAt(raw: unknown, path: Path): unknown {
  let v: unknown = raw;
  for (const seg of path) {
    v = v !== null && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[seg] : undefined;
  }
  return v;
}

function describeValue(value: unknown, node: unknown): string {
  if (value == null) return value === null && !(isScalar(node) && node.source === "") ? "null" : "no value";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return JSON.stringify(value) ?? String(value);
}

// The defaults hold every section, so their keys are the keys the schema knows at each level.
function knownKeys(path: Path): string[] {
  const defaults = valueAt(ConfigSchema.parse({}), path);
  return defaults && typeof defaults === "object" && !Array.isArray(defaults) ? Object.keys(defaults) : [];
}

function suggest(key: string, candidates: string[]): string | null {
  let best: string | null = null;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const c of candidates) {
    const prefix = key.length >= 3 && (c.startsWith(key) || key.startsWith(c));
    const d = prefix ? 1 : editDistance(key.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}
