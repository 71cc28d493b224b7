import assert from "node:assert/strict";
import { parseConfig } from "./config.ts";
import {
  actorLogger,
  type ConsoleLike,
  RECENT_LINES_MAX,
  recentLogLines,
  REDACTED,
  redactText,
  setupLogging,
} from "./logging.ts";
import type { LoggingConfig } from "./config.ts";

const HF_TOKEN = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345";
const SEED = "0x" + "3a".repeat(32);
const PRIVATE_KEY = "0x" + "c7".repeat(64);
const MNEMONIC = "abandon ability able about above absent absorb abstract absurd abuse access accident";
const ODD_SECRET = 'pa"ss\\word-9';

/** A Console stand-in that keeps every line written to it. */
function capturingConsole(): { console: ConsoleLike; lines: string[] } {
  const lines: string[] = [];
  const write = (...args: unknown[]) => lines.push(args.map(String).join(" "));
  const console = { debug: write, info: write, warn: write, error: write };
  return { console, lines };
}

async function withLogging(
  overrides: Partial<LoggingConfig>,
  secrets: string[],
  body: () => void,
): Promise<{ file: string; fileText: string; consoleText: string; dir: string }> {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/logs/miner.log`;
  const cfg = { ...parseConfig("", null, {}).logging, file, ...overrides };
  const captured = capturingConsole();
  {
    await using _logging = await setupLogging(cfg, secrets, { console: captured.console });
    body();
  }
  const fileText = await Deno.readTextFile(file);
  return { file, fileText, consoleText: captured.lines.join("\n"), dir };
}

Deno.test("setupLogging() keeps a configured token and key material out of the file and the console", async () => {
  const cfg = parseConfig("huggingface:\n  token: " + HF_TOKEN + "\n", "c.yml", {});
  const secrets = [cfg.huggingface.token!, MNEMONIC, ODD_SECRET];
  const { fileText, consoleText, dir } = await withLogging({}, secrets, () => {
    const log = actorLogger("upload").with({ taskId: "t-42" });
    log.info("Uploading with token {token}", { token: cfg.huggingface.token });
    log.info("Hub config {config}", { config: { hubUrl: "https://huggingface.co", auth: HF_TOKEN } });
    log.info(`Raw text mentions ${HF_TOKEN} and ${ODD_SECRET}`);
    const error = new Error(`Cannot upload: Authorization: Bearer ${HF_TOKEN} refused`, {
      cause: new Error(`seed ${SEED} rejected`),
    });
    log.error("Upload failed: {error}", { error });
    log.error(error);
    log.warn("Wallet loaded {wallet}", {
      wallet: { secretSeed: SEED, privateKey: PRIVATE_KEY, note: PRIVATE_KEY },
    });
    log.warn("Phrase is {phrase}", { phrase: MNEMONIC, mnemonic: MNEMONIC });
  });
  try {
    for (const text of [fileText, consoleText]) {
      for (const secret of [HF_TOKEN, SEED.slice(2), PRIVATE_KEY.slice(2), MNEMONIC, 'pa\\"ss', 'pa"ss']) {
        assert.ok(!text.includes(secret), `leaked ${secret} in:\n${text}`);
      }
      assert.ok(text.includes(REDACTED));
      assert.ok(text.includes("Cannot upload"), "the error itself is still logged");
    }
    const records = fileText.trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(records.length, 7);
    assert.ok(
      records.every((r) => r.actor === "upload" && r.taskId === "t-42" && r.logger === "satori.upload"),
    );
    assert.match(consoleText, /INFO {2}upload: Uploading with token .* taskId=t-42/);
    assert.match(
      records[3].message,
      /^Upload failed: "Error: Cannot upload: Authorization: Bearer \[REDACTED\] refused"$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("setupLogging() drops records below the configured level", async () => {
  const { fileText, consoleText, dir } = await withLogging({ level: "warning" }, [], () => {
    const log = actorLogger("queue");
    log.debug("debug line");
    log.info("info line");
    log.warn("warning line");
    log.error("error line");
  });
  try {
    assert.deepEqual(fileText.trim().split("\n").map((l) => JSON.parse(l).message), [
      "warning line",
      "error line",
    ]);
    assert.doesNotMatch(consoleText, /debug line|info line/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("setupLogging() rotates the file past max_bytes and keeps max_files", async () => {
  const { file, dir } = await withLogging({ max_bytes: 400, max_files: 2 }, [], () => {
    const log = actorLogger("gpu:0");
    for (let i = 0; i < 40; i++) log.info("Progress line {i} of a training run", { i });
  });
  try {
    const names = [...Deno.readDirSync(`${dir}/logs`)].map((e) => e.name).sort();
    assert.deepEqual(names, ["miner.log", "miner.log.1", "miner.log.2"]);
    for (const name of names) assert.ok(Deno.statSync(`${dir}/logs/${name}`).size <= 400);
    assert.match(Deno.readTextFileSync(file), /Progress line 39 /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("redactText() scrubs exact secrets and secret shapes but leaves ordinary text", () => {
  const text = `token=${HF_TOKEN} key=${PRIVATE_KEY} words: ${MNEMONIC}; task t-1 is queued (3 of 100)`;
  const out = redactText(text, ["my-own-secret-value"]);
  for (const secret of [HF_TOKEN, PRIVATE_KEY.slice(2), MNEMONIC]) assert.ok(!out.includes(secret));
  assert.ok(out.endsWith("task t-1 is queued (3 of 100)"));
  assert.equal(redactText("x my-own-secret-value y", ["my-own-secret-value"]), `x ${REDACTED} y`);
  assert.equal(redactText("short abc stays", ["abc"]), "short abc stays");
});

Deno.test("recentLogLines() keeps the latest warnings and errors for the status page, redacted like the sinks", async () => {
  const marker = crypto.randomUUID();
  await withLogging({}, [ODD_SECRET], () => {
    const log = actorLogger("status-test");
    log.info(`info ${marker} stays out`);
    log.warn(`warn ${marker} with ${HF_TOKEN} and ${ODD_SECRET}`, { password: "hunter22-very-secret" });
    log.error(`error ${marker} with ${MNEMONIC}`);
    for (let i = 0; i < RECENT_LINES_MAX + 5; i++) log.warning(`filler ${marker} ${i}`);
  });
  const lines = recentLogLines();
  assert.equal(lines.length, RECENT_LINES_MAX, "bounded");
  assert.match(lines.at(-1)!.message, new RegExp(`filler ${marker} ${RECENT_LINES_MAX + 4}$`));
  const dump = JSON.stringify(lines);
  assert.doesNotMatch(dump, new RegExp(`info ${marker}`));
  for (const secret of [HF_TOKEN, ODD_SECRET, MNEMONIC, "hunter22-very-secret"]) {
    assert.ok(!dump.includes(secret));
  }

  const log = () => actorLogger("status-test").warn(`warn ${marker} ${HF_TOKEN} ${ODD_SECRET}`);
  await withLogging({}, [ODD_SECRET], log);
  const last = recentLogLines().at(-1)!;
  assert.equal(last.level, "warning");
  assert.equal(last.category, "status-test");
  assert.equal(last.message, `warn ${marker} hf_${REDACTED} ${REDACTED}`);
});
