/**
 * The ChainActor's start-up clock check against a real Subtensor runtime: chopsticks on the raonet genesis,
 * where each block we build gets the `Timestamp.Now` we choose (`dev_timeTravel` sets the parent's time;
 * the block adds one slot). Blocks timestamped now pass silently; blocks timestamped 3 s in the local
 * future or past make the actor warn.
 */
import assert from "node:assert/strict";
import type { ApiPromise } from "@polkadot/api";
import { sr25519PairFromSeed } from "@polkadot/util-crypto";
import { startChainActor } from "../actors/chain/chain_actor.ts";
import type { ChainConfig } from "../actors/chain/chain_actor.ts";
import { chainStatus } from "../actors/protocol.ts";
import type { ActorRef } from "../actors/runtime/actor.ts";
import type { ChainMsg } from "../actors/protocol.ts";
import { parseConfig } from "../core/config.ts";
import { type ConsoleLike, setupLogging } from "../core/logging.ts";
import { Wallet } from "../core/wallet.ts";
import {
  type Chopsticks,
  connectApi,
  fundAlice,
  registerHotkey,
  startChopsticks,
} from "../local/chain_harness.ts";
import { waitFor } from "./helpers.ts";

const NETUID = 1;

function config(endpoint: string): ChainConfig {
  return {
    wallet: { name: "test", hotkey: "miner" },
    bittensor: { netuid: NETUID, chain_endpoint: endpoint, sync_interval_blocks: 100 },
    miner: { min_stake: 1000 },
    // No external IP: the actor serves nothing, so every block here is one the test builds.
    axon: { enabled: true, ip: "127.0.0.1", port: 8091, external_ip: null },
  };
}

async function timestampAt(api: ApiPromise, hash?: string): Promise<number> {
  const at = hash ?? (await api.rpc.chain.getHeader()).hash.toHex();
  return Number((await api.query.timestamp.now.at(at)).toString());
}

Deno.test("ChainActor clock check on a real Subtensor runtime (chopsticks, raonet)", async (t) => {
  await using chain: Chopsticks = await startChopsticks();
  const api = await connectApi(chain.endpoint);
  const lines: string[] = [];
  const write = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
  const capture: ConsoleLike = { debug: write, info: write, warn: write, error: write };
  const dir = await Deno.makeTempDir({ prefix: "chain_clock_" });
  const logging = parseConfig("", null, {}).logging;
  await using _logging = await setupLogging({ ...logging, level: "debug", file: `${dir}/miner.log` }, [], {
    console: capture,
  });
  try {
    const alice = await fundAlice(chain);
    const miner = new Wallet(
      "test",
      "miner",
      "(memory)",
      sr25519PairFromSeed(new Uint8Array(32).fill(7)),
      null,
    );
    await registerHotkey(api, alice, NETUID, miner.hotkey.ss58);

    // Chopsticks builds each block at its parent's time plus one slot: learn the slot, then aim blocks.
    const probe = 1_700_000_000_000;
    await chain.rpc("dev_timeTravel", [probe]);
    await chain.newBlocks(1);
    const slotMs = (await timestampAt(api)) - probe;
    assert.ok(slotMs > 0, `slot ${slotMs} ms`);

    /** Builds one block timestamped `offsetMs` from the local clock now; resolves once the actor has it. */
    const blockAt = async (actor: ActorRef<ChainMsg>, offsetMs: number) => {
      const target = Date.now() + offsetMs;
      await chain.rpc("dev_timeTravel", [target - slotMs]);
      await chain.newBlocks(1);
      const head = await api.rpc.chain.getHeader();
      assert.equal(await timestampAt(api, head.hash.toHex()), target);
      const block = head.number.toNumber();
      await waitFor(async () => (await chainStatus(actor)).block === block, {
        timeoutMs: 10_000,
        what: "head",
      });
    };
    const startActor = async () => {
      lines.length = 0;
      const actor = startChainActor({ config: config(chain.endpoint), signer: miner });
      // The head current at connection is the baseline, not a fresh block: wait until the actor has it.
      await waitFor(async () => (await chainStatus(actor)).block !== null, {
        timeoutMs: 20_000,
        what: "first head",
      });
      return actor;
    };
    const clockLines = () => lines.filter((l) => /Local clock/.test(l));

    await t.step("startChainActor() stays silent when fresh blocks carry the local time", async () => {
      await using actor = await startActor();
      // Half a second ahead: room for the time chopsticks takes to build and announce the block.
      for (let i = 0; i < 3; i++) await blockAt(actor, 500);
      await waitFor(() => clockLines().length > 0, { timeoutMs: 10_000, what: "the clock verdict" });
      assert.deepEqual(lines.filter((l) => /WARN/.test(l) && /clock/i.test(l)), [], lines.join("\n"));
      assert.match(clockLines()[0], /DEBUG.*Local clock agrees with the chain within 1 s/);
    });

    await t.step(
      "startChainActor() warns when the chain's time is 3 s ahead of the local clock",
      async () => {
        await using actor = await startActor();
        for (let i = 0; i < 3; i++) await blockAt(actor, 3_000);
        await waitFor(() => clockLines().length > 0, { timeoutMs: 10_000, what: "the clock warning" });
        assert.match(
          clockLines()[0],
          /WARN.*Local clock is at least [2-3]\.\d s behind the chain \(blocks \d+, \d+, \d+ /,
        );
      },
    );

    await t.step("startChainActor() warns when fresh blocks arrive 3 s after their timestamp", async () => {
      await using actor = await startActor();
      for (let i = 0; i < 3; i++) await blockAt(actor, -3_000);
      await waitFor(() => clockLines().length > 0, { timeoutMs: 10_000, what: "the clock warning" });
      assert.match(clockLines()[0], /WARN.*Local clock runs up to [3-4]\.\d s ahead of the chain/);
    });
  } finally {
    await api.disconnect();
    await Deno.remove(dir, { recursive: true });
  }
});
