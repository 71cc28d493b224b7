/**
 * The status server on real parts during a local run: the miner as its own process (`main.ts start`)
 * on the local network, a tiny text task trained on the CPU, the fake nvidia-smi (tests/fakebin) on
 * its PATH listing two cards it does not train on (`miner.devices: []`). Around it:
 * - a real Prometheus (Debian's package) scrapes /metrics every second with the bearer token; its
 *   HTTP API shows `satori_tasks` by state and the running task's step moving, then `done`;
 * - `promtool check metrics` passes on the exposition;
 * - a real headless Chromium (puppeteer-core) is refused without the token, logs in with the form,
 *   sees the progress bar advance, the loss chart get points and the task end `done`, with no console
 *   error; screenshots go to data/test-output/status_e2e/ (their paths are printed);
 * - `main.ts status` prints the task with its progress bar and ETA while it trains, `--json` too, and
 *   says the miner is not running (reading the store) after it stopped;
 * - planted secrets (the HF token, the status token, the hotkey's seed phrase) appear in none of
 *   /metrics, the page, the SSE stream, /api/status or `status --json`.
 */
import assert from "node:assert/strict";
import { parse, stringify } from "yaml";
import puppeteer, { type Page } from "puppeteer-core";
import { buildTiny, type LocalNetwork, startLocalNetwork, tinyTaskRequest } from "../local/local_network.ts";
import { freePort } from "../local/chain_harness.ts";
import type { PyValue } from "../actors/axon/body_hash.ts";
import { TaskRequest } from "../core/task.ts";
import { waitFor } from "./helpers.ts";
import { holdTrainer, startMiner, startPrometheus } from "./status_e2e_parts.ts";

const REPO = new URL("..", import.meta.url).pathname;
const OUT_DIR = `${REPO}data/test-output/status_e2e`;
const STATUS_TOKEN = `status-token-${crypto.randomUUID()}`;
/**
 * Steps of the task. The test holds the trainer's process group with SIGSTOP and lets it run in short
 * slices (SIGCONT), so what it watches moves in steps it controls on a fast or a loaded machine alike.
 */
const STEPS = 200;
const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
const dec = new TextDecoder();

Deno.test({
  name:
    "Status server during a local run: Prometheus scrapes progress, Chromium shows it live, status prints it",
  sanitizeOps: false, // puppeteer's socket and child process live across awaits of its own
  sanitizeResources: false,
}, async () => {
  const runDir = await Deno.makeTempDir({ prefix: "satori-status-e2e-" });
  await Deno.mkdir(OUT_DIR, { recursive: true });
  const tiny = await buildTiny(`${REPO}.venv/bin/python`, "text", `${runDir}/tiny`);
  await using net = await startLocalNetwork(runDir, Deno.env.toObject(), { baseModels: [tiny.model] });
  const statusPort = freePort();
  const status = `http://127.0.0.1:${statusPort}/`;
  const configFile = await writeConfig(net, runDir, statusPort);
  const secrets = [net.hfToken, STATUS_TOKEN, await seedPhrase(runDir)];

  await using miner = startMiner(configFile, net.hfToken);
  await using prometheus = await startPrometheus(runDir, statusPort, STATUS_TOKEN);
  await waitFor(async () => (await net.validator.dendrite.call(net.axon, "Capacity")).status === 200, {
    timeoutMs: 120_000,
    intervalMs: 250,
    what: `the miner's axon to know our validator\n${miner.output()}`,
  });

  const userDataDir = await Deno.makeTempDir({ prefix: "chromium-", dir: runDir });
  const browser = await puppeteer.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    userDataDir,
    args: CHROMIUM_FLAGS,
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1366, height: 900 });
    await refusedThenLogIn(page, status, secrets);
    const consoleErrors: string[] = [];
    page.on("console", (m) => void (m.type() === "error" && consoleErrors.push(m.text())));
    page.on("pageerror", (e) => void consoleErrors.push(String(e)));
    await page.reload({ waitUntil: "domcontentloaded" });

    const request = longTask(tiny.model, await net.files.serve(`${tiny.dataset}/train.jsonl`));
    const sent = await net.validator.dendrite.call(net.axon, "TrainingTask", {
      task: request as unknown as PyValue,
    });
    assert.equal(sent.synapse?.accepted, true, JSON.stringify(sent));
    const id = request.id;

    // While it trains (held between slices): the page's bar advances and its chart has points;
    // Prometheus sees it; so does `status`.
    const bar = `[data-task="${id}"] [role=progressbar]`;
    await using trainer = await holdTrainer(miner, id);
    const first = await trainer.runUntil(() => progressOf(page, bar, 0, 3_000));
    const cli = await statusCli(configFile);
    assert.match(cli, new RegExp(`live from ${status.replaceAll(".", "\\.")}`));
    assert.match(
      cli,
      new RegExp(`${id} {2}\\[█*░+\\] +\\d+% {2}\\d+/${STEPS} steps .*ETA .* loss \\d+\\.\\d{4}`),
      cli,
    );
    console.log(`main.ts status while training:\n${cli}`);
    const cliJson = await statusCli(configFile, "--json");
    assert.equal(JSON.parse(cliJson).view.running[0].id, id);
    await trainer.runUntil(() => progressOf(page, bar, first, 3_000));
    const points = Number(
      await page.evaluate(`document.querySelector('[data-task="${id}"] .chart').dataset.points`),
    );
    assert.ok(points > 1, `loss chart points: ${points}`);
    assert.ok(await page.$(`[data-task="${id}"] .chart canvas`), "uPlot drew the chart");
    assert.equal(await prometheus.value(`satori_tasks{state="training"}`), 1);
    const training = `${OUT_DIR}/dashboard-training.png`;
    await page.screenshot({ path: training, fullPage: true });
    console.log(`dashboard screenshot (training): ${training}`);
    noSecrets(secrets, {
      metrics: await get(`${status}metrics`),
      json: await get(`${status}api/status`),
      sse: await sse(`${status}events`),
      page: await page.content(),
      cli: cli + cliJson,
    });
    trainer.release();

    // At the end: done on the page and in Prometheus, and the step series Prometheus kept moved.
    await page.waitForSelector(`#recent tr[data-task="${id}"][data-state="done"]`, { timeout: 180_000 });
    const done = `${OUT_DIR}/dashboard-done.png`;
    await page.screenshot({ path: done, fullPage: true });
    await page.setViewport({ width: 390, height: 844, isMobile: true, deviceScaleFactor: 2 });
    await page.reload({ waitUntil: "domcontentloaded" });
    await page.waitForSelector(`#recent tr[data-task="${id}"][data-state="done"]`);
    const phone = `${OUT_DIR}/dashboard-phone.png`;
    await page.screenshot({ path: phone, fullPage: true });
    console.log(`dashboard screenshots (done): ${done} ${phone}`);
    await waitFor(async () => (await prometheus.value(`satori_tasks{state="done"}`)) === 1, {
      timeoutMs: 15_000,
      intervalMs: 500,
      what: "Prometheus to scrape the task done",
    });
    const steps = await prometheus.steps(id);
    assert.ok(steps.length >= 2 && steps.every((s, i) => i === 0 || s >= steps[i - 1]), `steps ${steps}`);
    console.log(`Prometheus scraped ${id} at steps ${steps.join(", ")}`);
    assert.deepEqual(consoleErrors, []);

    const exposition = await get(`${status}metrics`);
    await Deno.writeTextFile(`${runDir}/metrics.txt`, exposition);
    const lint = await new Deno.Command("promtool", {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    })
      .spawn();
    await ReadableStream.from([new TextEncoder().encode(exposition)]).pipeTo(lint.stdin);
    const linted = await lint.output();
    assert.equal(linted.code, 0, dec.decode(linted.stdout) + dec.decode(linted.stderr));
  } catch (e) {
    const shot = `${OUT_DIR}/dashboard-failure.png`;
    for (const page of await browser.pages()) {
      await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
    }
    console.error(`failed; the page is in ${shot}; the miner said:\n${miner.output()}`);
    throw e;
  } finally {
    await browser.close();
  }

  await miner.stop();
  const after = await statusCli(configFile);
  console.log(`main.ts status after the miner stopped:\n${after}`);
  assert.match(after, /^satori-miner is not running \(data dir ".*"\): tasks as the store holds them$/m);
  assert.match(after, /tasks {4}done 1/);
  await Deno.remove(runDir, { recursive: true });
});

/** The local network's config plus a status server with a token, polling the fake GPUs each second. */
async function writeConfig(net: LocalNetwork, runDir: string, port: number): Promise<string> {
  const base = parse(await Deno.readTextFile(net.configFile));
  const file = `${runDir}/status-config.yml`;
  await Deno.writeTextFile(
    file,
    stringify({
      ...base,
      // The fake nvidia-smi lists two cards; none is the miner's, so it trains on the CPU.
      miner: { ...base.miner, devices: [] },
      status: { enabled: true, host: "127.0.0.1", port, token: STATUS_TOKEN, gpu_poll_s: 1 },
    }),
  );
  return file;
}

async function seedPhrase(runDir: string): Promise<string> {
  return JSON.parse(await Deno.readTextFile(`${runDir}/wallets/miner/hotkeys/default`)).secretPhrase;
}

function longTask(model: string, dataset: { url: string; sha256: string }): TaskRequest {
  const base = tinyTaskRequest("text", `status-e2e-${Date.now().toString(36)}`, model, dataset);
  const training = base.training as { hyperparameters: Record<string, unknown> };
  return TaskRequest.parse({
    ...base,
    training: {
      ...base.training,
      hyperparameters: { ...training.hyperparameters, max_steps: STEPS, checkpoint_every: STEPS / 2 },
    },
  });
}

/** The page is refused without the token (login form, no data), then the form logs the browser in. */
async function refusedThenLogIn(page: Page, url: string, secrets: string[]): Promise<void> {
  const refused = await page.goto(url, { waitUntil: "domcontentloaded" });
  assert.equal(refused?.status(), 401);
  const html = await page.content();
  assert.match(html, /name="token"/);
  assert.ok(
    !html.includes("satori_tasks") && !html.includes('id="running"'),
    "no dashboard without the token",
  );
  noSecrets(secrets, { login: html });
  await page.type("#token", STATUS_TOKEN);
  await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
  await page.waitForSelector("#running");
}

/** Waits until the progress bar at `selector` shows more than `above` percent; returns it. */
async function progressOf(page: Page, selector: string, above: number, timeoutMs: number): Promise<number> {
  // A string, evaluated in the page: this file is type-checked without the DOM's types.
  const handle = await page.waitForFunction(
    `(() => {
      const v = Number(document.querySelector(${
      JSON.stringify(selector)
    })?.getAttribute("aria-valuenow") ?? NaN);
      return v > ${above} && v < 100 ? v : false;
    })()`,
    { timeout: timeoutMs, polling: 200 },
  );
  return Number(await handle.jsonValue());
}

async function statusCli(configFile: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO}main.ts`, "status", "-c", configFile, ...args],
    cwd: REPO,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  return dec.decode(out.stdout);
}

async function get(url: string): Promise<string> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${STATUS_TOKEN}` } });
  assert.equal(res.status, 200, url);
  return await res.text();
}

/** Two messages of the live feed, as text. */
async function sse(url: string): Promise<string> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${STATUS_TOKEN}` } });
  let text = "";
  for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
    text += chunk;
    if (text.split("\n\ndata: ").length > 2) break;
  }
  return text;
}

function noSecrets(secrets: string[], outputs: Record<string, string>): void {
  for (const [where, text] of Object.entries(outputs)) {
    assert.ok(text.length > 0, `${where} is empty`);
    for (const s of secrets) assert.ok(!text.includes(s), `a planted secret reached ${where}`);
    // A seed phrase split over a line is still a seed phrase: look for any 4 of its words in a row.
    const words = secrets[2].split(" ");
    for (let i = 0; i + 4 <= words.length; i++) {
      assert.ok(!text.includes(words.slice(i, i + 4).join(" ")), `part of the seed phrase reached ${where}`);
    }
  }
}
