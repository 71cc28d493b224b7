/**
 * ChainActor without a chain: an endpoint that accepts TCP and hangs up at once (a node going up and down),
 * so every connection attempt fails. The actor must keep answering, marked stale, and retry on its backoff
 * schedule (driven by a fake clock). The real-runtime suite is tests/chain_actor_test.ts.
 */
import assert from "node:assert/strict";
import { sr25519PairFromSeed } from "@polkadot/util-crypto";
import { Wallet } from "../../core/wallet.ts";
import { fakeClock, waitFor } from "../../tests/helpers.ts";
import type { Clock } from "../runtime/actor.ts";
import { startChainActor } from "./chain_actor.ts";
import { chainStatus, lookupHotkey, syncMetagraph } from "../protocol.ts";

/** Accepts connections and closes them straight away; counts the attempts. */
function hangUpServer() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const state = { accepted: 0 };
  const serving = (async () => {
    for await (const conn of listener) {
      state.accepted++;
      conn.close();
    }
  })().catch(() => {});
  return {
    endpoint: `ws://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    state,
    close: async () => {
      listener.close();
      await serving;
    },
  };
}

Deno.test("startChainActor() answers stale lookups and retries with backoff while the node is unreachable", async () => {
  const server = hangUpServer();
  const fake = fakeClock(1_000);
  // Records the delays the actor asks for, to move time only once its reconnect timer is set.
  const delays: number[] = [];
  const clock: Clock = {
    now: () => fake.clock.now(),
    setTimeout: (fn, ms) => (delays.push(ms), fake.clock.setTimeout(fn, ms)),
    clearTimeout: (id) => fake.clock.clearTimeout(id),
  };
  const signer = new Wallet(
    "test",
    "miner",
    "(memory)",
    sr25519PairFromSeed(new Uint8Array(32).fill(3)),
    null,
  );
  const actor = startChainActor({
    config: {
      wallet: { name: "test", hotkey: "miner" },
      bittensor: { netuid: 1, chain_endpoint: server.endpoint, sync_interval_blocks: 5 },
      miner: { min_stake: 1000 },
      axon: { enabled: true, ip: "0.0.0.0", port: 8091, external_ip: null },
    },
    signer,
    clock,
    backoff: { minMs: 1_000, maxMs: 4_000, jitter: 0 },
    connectTimeoutMs: 5_000,
  });
  try {
    const attempts = () => server.state.accepted;
    // Each failed attempt is followed by a reconnect timer on the fake clock: 1 s, 2 s, then 4 s (the cap).
    for (const [n, delay] of [[1, 1_000], [2, 2_000], [3, 4_000], [4, 4_000]]) {
      await waitFor(() => delays.length === n, { timeoutMs: 5_000, what: `reconnect timer ${n}` });
      assert.equal(delays[n - 1], delay);
      assert.equal(attempts(), n);
      await fake.tick(delay - 1);
      assert.equal(attempts(), n, `no attempt before the ${delay} ms backoff`);
      await fake.tick(1);
      await waitFor(() => attempts() === n + 1, { timeoutMs: 5_000, what: `connection attempt ${n + 1}` });
    }

    const status = await chainStatus(actor);
    assert.equal(status.connected, false);
    assert.equal(status.staleSince, 1_000); // stale from the start: no metagraph yet
    assert.equal(status.metagraph, null);
    assert.equal(status.axon.state, "disabled");
    assert.match((status.axon as { reason: string }).reason, /set axon\.external_ip/);
    assert.deepEqual(await lookupHotkey(actor, signer.hotkey.ss58), {
      registered: false,
      uid: null,
      validatorPermit: false,
      stakeTao: 0,
      stale: true,
    });
    const sync = await syncMetagraph(actor);
    assert.equal(sync.ok, false);
    assert.equal(!sync.ok && sync.reason, "disconnected");
  } finally {
    await actor.stop();
    await server.close();
  }
  assert.equal(actor.status, "stopped");
});
