/**
 * bench/axon_btauth: signed-request throughput and p50/p99 latency of the task API's btauth/1 route
 * (`GET /v1/tasks/{id}`) against (a) this miner's 10.x synapse route (TaskStatus) on the same server
 * process, and (b) a FastAPI/uvicorn app verifying with bittensor 11's own `http_auth.verify`
 * (bench/btauth_fastapi.py), all on this machine, driven by the same load generator at the same
 * concurrency. Requests are signed just before each run (btauth/1 nonces live 10 s), so the generator
 * measures the servers, not signing; each run is sized from its warm-up to last about 4 s. Prints the
 * figures and ratios; asserts nothing.
 *
 *   deno run -A bench/axon_btauth.ts [concurrency=16]
 */
import { BENCH_TASKS, load, type Ready, type Result, signRequests, startOurs } from "./axon.ts";
import { serverReady } from "../tests/axon_sdk_processes.ts";
import { MINER_PHRASE, VALIDATOR_PHRASE, walletFrom } from "../tests/axon_fixtures.ts";
import { signBtauth, walletSigner } from "../tests/axon_btauth_fixtures.ts";
import { BT11_PYTHON, requireBt11Venv } from "../tests/axon_bt11.ts";

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);
const RUN_S = 4;

async function startFastApi(receiver: string, allow: string): Promise<{ port: number } & AsyncDisposable> {
  await requireBt11Venv();
  const child = new Deno.Command(BT11_PYTHON, {
    args: [`${ROOT}bench/btauth_fastapi.py`, "--receiver", receiver, "--allow", allow],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const { ready, stop } = await serverReady<{ port: number }>(
    child,
    async () => `bench/btauth_fastapi.py exited before serving (status ${(await child.status).code})`,
  );
  return { port: ready.port, [Symbol.asyncDispose]: stop };
}

type Sign = (concurrency: number, perWorker: number) => Promise<Ready[][]>;

/** `perWorker` signed status reads per worker, nonces 1 µs apart, all signed now. */
function btauthRequests(port: number, receiver: string): Sign {
  return async (concurrency, perWorker) => {
    const signer = walletSigner(await walletFrom(VALIDATOR_PHRASE));
    const base = BigInt(Date.now()) * 1_000_000n;
    return Array.from({ length: concurrency }, (_, w) =>
      Array.from({ length: perWorker }, (_, i) => {
        const target = `/v1/tasks/t-${(w * perWorker + i) % BENCH_TASKS}`;
        const nonceNs = base + BigInt(w * perWorker + i) * 1_000n;
        const headers = signBtauth(signer, { method: "GET", target, receiver, nonceNs });
        return { url: `http://127.0.0.1:${port}${target}`, method: "GET", headers };
      }));
  };
}

/** A warm-up, then a run sized to last about RUN_S seconds at the warm-up's rate. */
async function measure(name: string, sign: Sign, concurrency: number): Promise<Result> {
  const warm = await load(`${name} warmup`, await sign(concurrency, 40));
  const perWorker = Math.max(50, Math.min(1_000, Math.round((warm.rps * RUN_S) / concurrency)));
  return load(name, await sign(concurrency, perWorker));
}

function line(r: Result): string {
  return `${r.name.padEnd(36)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${
    r.p50.toFixed(2).padStart(7)
  } ms  ` +
    `p99 ${r.p99.toFixed(2).padStart(7)} ms  non-200 ${r.errors}/${r.requests}`;
}

export async function benchAxonBtauth(concurrency = 16): Promise<void> {
  const miner = await walletFrom(MINER_PHRASE);
  const validator = await walletFrom(VALIDATOR_PHRASE);
  const hotkey = miner.hotkey.ss58;
  let btauth: Result;
  let synapse: Result;
  let fastapi: Result;
  {
    await using ours = await startOurs();
    btauth = await measure(
      "ours: btauth/1 GET /v1/tasks/{id}",
      btauthRequests(ours.port, hotkey),
      concurrency,
    );
    const target = { ip: "127.0.0.1", port: ours.port, hotkey };
    synapse = await measure(
      "(a) ours: 10.x synapse TaskStatus",
      (c, n) => signRequests(target, c, n),
      concurrency,
    );
  }
  {
    await using sdk = await startFastApi(hotkey, validator.hotkey.ss58);
    fastapi = await measure("(b) FastAPI + http_auth.verify", btauthRequests(sdk.port, hotkey), concurrency);
  }
  console.log(`signed status reads, concurrency ${concurrency}, same generator, 127.0.0.1`);
  for (const r of [btauth, synapse, fastapi]) console.log(line(r));
  const ratio = (name: string, base: Result) =>
    console.log(
      `btauth/1 vs ${name}: throughput ${(btauth.rps / base.rps).toFixed(2)}x, ` +
        `p50 ${(base.p50 / btauth.p50).toFixed(2)}x lower, p99 ${(base.p99 / btauth.p99).toFixed(2)}x lower`,
    );
  ratio("(a) the synapse route", synapse);
  ratio("(b) FastAPI + http_auth.verify", fastapi);
  console.log(
    `goal vs (b): throughput >= 5x, p99 <= 1/3 (p99 ${(fastapi.p99 / btauth.p99).toFixed(2)}x lower)`,
  );
}

if (import.meta.main) await benchAxonBtauth(Number(Deno.args[0] ?? 16));
