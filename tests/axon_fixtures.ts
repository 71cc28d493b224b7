/**
 * Fakes and builders for the axon tests: wallets from fixed mnemonics, an in-memory miner behind the
 * AxonServices interface (metagraph facts, queue, tasks, capacity), and a handler wired to them.
 */
import type { Logger } from "@logtape/logtape";
import { loadWallet, type Wallet } from "../core/wallet.ts";
import { newTask, type Task, type TaskRequest } from "../core/task.ts";
import type { Clock } from "../actors/runtime/actor.ts";
import type { PyValue } from "../actors/axon/body_hash.ts";
import { DEFAULT_RATE_LIMIT, type RateLimit } from "../actors/axon/blacklist.ts";
import type { HotkeyFacts } from "../actors/protocol.ts";
import { type AxonHandler, type AxonState, createAxonHandler } from "../actors/axon/handler.ts";
import { priorityGate } from "../actors/axon/priority_gate.ts";
import type { AxonServices, CapacitySnapshot } from "../actors/axon/synapse_handlers.ts";
import type { AcceptResult } from "../actors/protocol.ts";

export const VALIDATOR_PHRASE =
  "old leopard transfer rib spatial phone calm indicate online fire caution review";
export const MINER_PHRASE = "legal winner thank year wave sausage worth useful legal winner thank yellow";
export const STRANGER_PHRASE =
  "letter advice cage absurd amount doctor acoustic avoid letter advice cage above";

/** A wallet loaded through core/wallet.ts from a hotkey file holding `phrase`. */
export async function walletFrom(phrase: string): Promise<Wallet> {
  const root = await Deno.makeTempDir({ prefix: "axon_wallet_" });
  await Deno.mkdir(`${root}/w/hotkeys`, { recursive: true });
  await Deno.writeTextFile(`${root}/w/hotkeys/h`, JSON.stringify({ secretPhrase: phrase }), { mode: 0o600 });
  try {
    return (await loadWallet({ root, name: "w", hotkey: "h", env: {} })).wallet;
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

export const VALIDATOR_FACTS: HotkeyFacts = {
  registered: true,
  uid: 3,
  validatorPermit: true,
  stakeTao: 5_000,
  stale: false,
};

/** An in-memory miner: facts per hotkey, a queue with a bound, tasks by id. */
export class FakeMiner implements AxonServices {
  facts = new Map<string, HotkeyFacts>();
  tasks = new Map<string, Task>();
  queueMax = 2;
  submitted: { request: TaskRequest; validator: { hotkey: string; stakeTao: number } }[] = [];
  failWith: Error | null = null;
  capacityValue: CapacitySnapshot = {
    totalGpus: 2,
    freeGpus: 1,
    vramMb: [81559, 81559],
    queueLength: 0,
    queueMax: 2,
  };

  lookup(hotkey: string): HotkeyFacts {
    if (this.failWith) throw this.failWith;
    return this.facts.get(hotkey) ??
      { registered: false, uid: null, validatorPermit: false, stakeTao: 0, stale: false };
  }

  acceptTask(request: TaskRequest, validator: { hotkey: string; stakeTao: number }): AcceptResult {
    if (this.failWith) throw this.failWith;
    if (this.submitted.length >= this.queueMax) {
      return {
        ok: false,
        reason: "queue_full",
        message: `Cannot enqueue task "${request.id}": queue is full`,
      };
    }
    this.submitted.push({ request, validator });
    this.tasks.set(request.id, { ...newTask(request, validator.hotkey, 1_000), state: "queued" });
    return { ok: true, taskId: request.id, position: this.submitted.length - 1 };
  }

  taskStatus(taskId: string): Task | null {
    return this.tasks.get(taskId) ?? null;
  }

  capacity(): CapacitySnapshot | Promise<CapacitySnapshot> {
    return { ...this.capacityValue, queueLength: this.submitted.length };
  }
}

export interface HandlerSetup {
  handler: AxonHandler;
  state: AxonState;
  miner: FakeMiner;
}

export function makeHandler(
  minerWallet: Wallet,
  clock: Clock,
  over: {
    rateLimit?: RateLimit;
    maxInFlight?: number;
    maxBodyBytes?: number;
    miner?: FakeMiner;
    services?: Partial<AxonServices>;
    log?: Logger;
  } = {},
): HandlerSetup {
  const miner = over.miner ?? new FakeMiner();
  const state: AxonState = {
    uuid: "axon-uuid-1",
    nonces: new Map(),
    openNonces: new Map(),
    buckets: new Map(),
    gate: priorityGate(over.maxInFlight ?? 8, clock),
    counts: new Map(),
    staleLookups: 0,
    aborted: 0,
    signatures: new Map(),
    ledger: new Map(),
  };
  const handler = createAxonHandler({
    lookup: (h) => miner.lookup(h),
    acceptTask: (r, v) => miner.acceptTask(r, v),
    taskStatus: (id) => miner.taskStatus(id),
    capacity: () => miner.capacity(),
    ...over.services,
    signer: minerWallet,
    clock,
    rules: { minStakeTao: 1_000, requirePermit: true },
    rateLimit: over.rateLimit ?? DEFAULT_RATE_LIMIT,
    maxBodyBytes: over.maxBodyBytes ?? 64 * 1024,
    log: over.log,
  }, state);
  return { handler, state, miner };
}

/** A valid TaskRequest body (what a validator puts in TrainingTask.task). */
export function taskJson(id: string): { [key: string]: PyValue } {
  return {
    id,
    type: "text",
    dataset: { kind: "hf", repo: "satori/toy", revision: "main" },
    training: { base_model: "tiny-llama", hyperparameters: { max_steps: 4, learning_rate: 0.0002 } },
  };
}
