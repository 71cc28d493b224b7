/**
 * The ChainActor's metagraph flow: start a sync (one at a time), then swap in the new snapshot, mark
 * the answers fresh, and warn when the own hotkey is gone or `min_stake` shuts out every validator.
 */
import type { ApiPromise } from "@polkadot/api";
import type { Reply, SyncResult } from "../protocol.ts";
import { readMetagraph } from "./chain_client.ts";
import { background, type ChainState, type Meta } from "./chain_state.ts";
import { buildSnapshot, minStakeWarning } from "./metagraph.ts";

export function requestSync(state: ChainState, reply: Reply<SyncResult>): void {
  if (!state.api) {
    const message =
      `Cannot sync the metagraph: not connected to ${state.deps.config.bittensor.chain_endpoint}`;
    return reply({ ok: false, reason: "disconnected", message });
  }
  state.waiters.push(reply);
  startSync(state);
}

export function startSync(state: ChainState): void {
  const api = state.api;
  if (!api || state.syncing) return;
  state.syncing = true;
  background(
    state,
    readMetagraph(api, state.deps.config.bittensor.netuid, state.features!),
    (meta) => ({ type: "synced", api, meta }),
    (error) => ({ type: "failed", api, what: "sync", error }),
  );
}

export function onSynced(state: ChainState, api: ApiPromise, meta: Meta): void {
  if (api !== state.api) return;
  const { config, signer } = state.deps;
  const snapshot = buildSnapshot(
    config.bittensor.netuid,
    meta.columns,
    meta.block,
    state.clock.now(),
    meta.source,
  );
  const first = state.snapshot === null;
  Object.assign(state, { snapshot, syncing: false, staleSince: null });
  const own = snapshot.byHotkey.get(signer.hotkey.ss58);
  if (!own && state.uid !== null) {
    state.log.error("Hotkey {hotkey} is no longer in the metagraph of netuid {netuid}: deregistered?", {
      hotkey: signer.hotkey.ss58,
      netuid: config.bittensor.netuid,
    });
  }
  state.uid = own?.uid ?? null;
  const warning = minStakeWarning(snapshot, config.miner.min_stake);
  if (warning && warning !== state.lastWarning) state.log.warn(warning);
  state.lastWarning = warning;
  state.log[first ? "info" : "debug"](
    "Metagraph synced at block {block} via {source}: {neurons} neurons, own stake {stake} TAO",
    {
      block: meta.block,
      source: meta.source,
      neurons: snapshot.size,
      stake: own?.stakeTao ?? 0,
    },
  );
  const result = { ok: true as const, block: meta.block, neurons: snapshot.size, source: meta.source };
  for (const reply of state.waiters.splice(0)) reply(result);
}
