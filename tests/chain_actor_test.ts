/**
 * ChainActor against a real Subtensor runtime: chopsticks building blocks from the raonet genesis
 * (spec 218), one instance for the file. The actor reaches it through a TCP proxy, so an outage is a
 * paused proxy and the chain keeps its state across it. Hotkeys are registered on netuid 1 with
 * `burned_register` paid by //Alice; validator stake and permits are faked through storage.
 */
import assert from "node:assert/strict";
import type { ApiPromise } from "@polkadot/api";
import { Keyring } from "@polkadot/keyring";
import { sr25519PairFromSeed } from "@polkadot/util-crypto";
import { startChainActor } from "../actors/chain/chain_actor.ts";
import { chainStatus, lookupHotkey, syncMetagraph } from "../actors/protocol.ts";
import { readMetagraph } from "../actors/chain/chain_client.ts";
import type { ChainConfig } from "../actors/chain/chain_actor.ts";
import type { HotkeyFacts } from "../actors/protocol.ts";
import { ChainError } from "../core/errors.ts";
import { Wallet } from "../core/wallet.ts";
import {
  type Chopsticks,
  connectApi,
  fundAlice,
  registerHotkey,
  setValidators,
  startChopsticks,
  startTcpProxy,
  type TcpProxy,
} from "../local/chain_harness.ts";
import { waitFor } from "./helpers.ts";

const NETUID = 1;
const EXTERNAL_IP = "203.0.113.7"; // TEST-NET-3: routable-looking, accepted by the chain
const EXTERNAL_IP_INT = (203 << 24 >>> 0) + (0 << 16) + (113 << 8) + 7;

function wallet(hotkeyName: string, seedByte: number): Wallet {
  return new Wallet(
    "test",
    hotkeyName,
    "(memory)",
    sr25519PairFromSeed(new Uint8Array(32).fill(seedByte)),
    null,
  );
}

function config(endpoint: string, hotkey: string, port = 8091): ChainConfig {
  return {
    wallet: { name: "test", hotkey },
    bittensor: { netuid: NETUID, chain_endpoint: endpoint, sync_interval_blocks: 3 },
    miner: { min_stake: 1000 },
    axon: { enabled: true, ip: "0.0.0.0", port, external_ip: EXTERNAL_IP },
  };
}

const BACKOFF = { minMs: 100, maxMs: 400, jitter: 0 };

async function readAxon(api: ApiPromise, hotkey: string) {
  return (await api.query.subtensorModule.axons(NETUID, hotkey)).toJSON() as Record<string, number> | null;
}

Deno.test("ChainActor on a real Subtensor runtime (chopsticks, raonet spec 218)", async (t) => {
  await using chain: Chopsticks = await startChopsticks();
  await using proxy: TcpProxy = startTcpProxy(chain.port);
  const api = await connectApi(chain.endpoint);
  try {
    const alice = await fundAlice(chain);
    const miner = wallet("miner", 7);
    const validator = new Keyring({ type: "sr25519", ss58Format: 42 }).addFromUri("//Validator");
    const minerUid = await registerHotkey(api, alice, NETUID, miner.hotkey.ss58);
    const validatorUid = await registerHotkey(api, alice, NETUID, validator.address);

    await t.step(
      "startChainActor() crashes with the btcli register command when the hotkey is not registered",
      async () => {
        const stranger = wallet("stranger", 9);
        const actor = startChainActor({
          config: config(proxy.endpoint, "stranger"),
          signer: stranger,
          backoff: BACKOFF,
        });
        const error = await actor.done.then(() => null, (e) => e);
        assert.ok(error instanceof ChainError, `expected a ChainError, got ${error}`);
        assert.equal(error.reason, "not_registered");
        assert.match(
          error.message,
          new RegExp(`hotkey "${stranger.hotkey.ss58}" is not registered on netuid 1`),
        );
        assert.ok(
          error.message.includes(
            "`btcli subnet register --netuid 1 --wallet.name test --wallet.hotkey stranger`",
          ),
        );
      },
    );

    let servedBlock = 0;
    await t.step("startChainActor() serves the axon when the chain's Axons entry differs", async () => {
      await using actor = startChainActor({
        config: config(proxy.endpoint, "miner"),
        signer: miner,
        backoff: BACKOFF,
      });
      await waitFor(async () => (await chainStatus(actor)).axon.state === "served", {
        timeoutMs: 20_000,
        what: "served",
      });
      const status = await chainStatus(actor);
      assert.equal(status.uid, minerUid);
      assert.equal(status.specVersion, 218);
      const axon = await readAxon(api, miner.hotkey.ss58);
      assert.ok(axon);
      servedBlock = axon.block;
      assert.deepEqual({ ...axon, block: 0 }, {
        block: 0,
        version: 10_002_000,
        ip: EXTERNAL_IP_INT,
        port: 8091,
        ipType: 4,
        protocol: 4,
        placeholder1: 0,
        placeholder2: 0,
      });
      assert.deepEqual(status.axon, { state: "served", endpoint: `${EXTERNAL_IP}:8091`, block: servedBlock });
    });

    await t.step("startChainActor() leaves an up-to-date Axons entry alone", async () => {
      await using actor = startChainActor({
        config: config(proxy.endpoint, "miner"),
        signer: miner,
        backoff: BACKOFF,
      });
      await waitFor(async () => (await chainStatus(actor)).axon.state === "up_to_date", {
        timeoutMs: 20_000,
      });
      assert.equal((await readAxon(api, miner.hotkey.ss58))?.block, servedBlock);
    });

    // A short limit spares blocks: 8 instead of the genesis 50 (each block costs ~0.3 s).
    await chain.setStorage({ SubtensorModule: { ServingRateLimit: [[[NETUID], 8]] } });
    await using actor = startChainActor({
      config: config(proxy.endpoint, "miner", 8092),
      signer: miner,
      backoff: BACKOFF,
    });
    await t.step("startChainActor() waits for ServingRateLimit before serving a changed port", async () => {
      await waitFor(async () => (await chainStatus(actor)).axon.state === "waiting", { timeoutMs: 20_000 });
      const status = await chainStatus(actor);
      assert.deepEqual(status.axon, {
        state: "waiting",
        endpoint: `${EXTERNAL_IP}:8092`,
        untilBlock: servedBlock + 8,
      });
      assert.equal((await readAxon(api, miner.hotkey.ss58))?.port, 8091);
      // The extrinsic may be included at untilBlock: the actor submits once the head is one before it.
      await chain.newBlocks(servedBlock + 7 - (status.block ?? 0));
      await waitFor(async () => (await chainStatus(actor)).axon.state === "served", { timeoutMs: 20_000 });
      assert.equal((await readAxon(api, miner.hotkey.ss58))?.port, 8092);
      assert.ok((await readAxon(api, miner.hotkey.ss58))!.block >= servedBlock + 8);
    });

    await t.step(
      "lookupHotkey() picks up a new validator's stake and permit after a metagraph sync",
      async () => {
        const before = await lookupHotkey(actor, validator.address);
        assert.deepEqual([before.registered, before.uid, before.stale], [true, validatorUid, false]);
        const permits = [false, false, false];
        permits[validatorUid] = true;
        await setValidators(chain, NETUID, [{ hotkey: validator.address, stakeTao: 5_000n }], permits);
        await chain.newBlocks(3); // sync_interval_blocks
        const isValidator = (f: HotkeyFacts) => f.validatorPermit && f.stakeTao >= 5_000;
        await waitFor(async () => isValidator(await lookupHotkey(actor, validator.address)), {
          timeoutMs: 20_000,
          what: "the validator's stake in a sync",
        });
        const after = await lookupHotkey(actor, validator.address);
        assert.deepEqual({ ...after, stakeTao: 0 }, {
          registered: true,
          uid: validatorUid,
          validatorPermit: true,
          stakeTao: 0,
          stale: false,
        });
        assert.ok(after.stakeTao < 5_100, `stake ${after.stakeTao}: 5000 TAO plus a little emission`);
        const unknown = new Keyring({ type: "sr25519" }).addFromUri("//Nobody").address;
        for (const ss58 of [unknown, "not-an-address"]) {
          assert.deepEqual(await lookupHotkey(actor, ss58), {
            registered: false,
            uid: null,
            validatorPermit: false,
            stakeTao: 0,
            stale: false,
          });
        }
        const synced = await syncMetagraph(actor);
        assert.ok(
          synced.ok && synced.source === "subnet_state" && synced.neurons === 3,
          JSON.stringify(synced),
        );
        const status = await chainStatus(actor);
        assert.ok(status.metagraph!.validators >= 1);
        assert.equal(status.metagraph!.neurons, 3);
      },
    );

    await t.step(
      "readMetagraph() reads the same columns via get_neurons_lite when get_subnet_state is absent",
      async () => {
        const features = { selectiveMetagraph: null, subnetState: null, neuronsLite: "bytes" as const };
        const lite = await readMetagraph(api, NETUID, features);
        const state = await readMetagraph(api, NETUID, {
          ...features,
          subnetState: "bytes",
          neuronsLite: null,
        });
        assert.equal(lite.source, "neurons_lite");
        assert.equal(state.source, "subnet_state");
        assert.deepEqual(lite.columns.hotkeys, state.columns.hotkeys);
        assert.deepEqual(lite.columns.validatorPermit, state.columns.validatorPermit);
        // Spec 218 leaves NeuronInfoLite.stake at zero (mainnet fills it with TotalHotkeyAlpha): the
        // fallback still yields uids and permits, and no stake (so lookups under it meet no min_stake).
        assert.deepEqual(lite.columns.stakeRao, [0n, 0n, 0n]);
      },
    );

    await t.step(
      "lookupHotkey() answers stale facts during a chain outage and fresh ones after reconnecting",
      async () => {
        const before = await lookupHotkey(actor, validator.address);
        await proxy.pause();
        await waitFor(async () => !(await chainStatus(actor)).connected, {
          timeoutMs: 10_000,
          what: "disconnect",
        });
        assert.deepEqual(await lookupHotkey(actor, validator.address), { ...before, stale: true });
        assert.notEqual((await chainStatus(actor)).staleSince, null);
        assert.deepEqual(await syncMetagraph(actor), {
          ok: false,
          reason: "disconnected",
          message: `Cannot sync the metagraph: not connected to ${proxy.endpoint}`,
        });
        // The chain moves on while the miner cannot see it.
        const permits = [false, false, false];
        permits[validatorUid] = true;
        await setValidators(chain, NETUID, [{ hotkey: validator.address, stakeTao: 7_000n }], permits);
        await chain.newBlocks(1);
        proxy.resume();
        await waitFor(async () => {
          const s = await chainStatus(actor);
          return s.connected && s.staleSince === null;
        }, { timeoutMs: 20_000, what: "reconnect and resync" });
        const fresh = await lookupHotkey(actor, validator.address);
        assert.equal(fresh.stale, false);
        assert.ok(fresh.stakeTao >= 7_000 && fresh.stakeTao < 7_100, `stake ${fresh.stakeTao}`);
      },
    );
  } catch (e) {
    console.error(`chopsticks output:\n${chain.output()}`);
    throw e;
  } finally {
    await api.disconnect();
  }
});
