/**
 * The ChainActor's axon flow: read the chain's `Axons` entry and `ServingRateLimit`, then leave an
 * up-to-date entry alone, wait for the allowed block, or submit `serve_axon` signed by the hotkey.
 */
import type { ApiPromise } from "@polkadot/api";
import { decideServe, formatEndpoint } from "./axon_info.ts";
import { readAxonState, type ServeOutcome, submitServeAxon } from "./chain_client.ts";
import { type AxonRead, background, type ChainState } from "./chain_state.ts";

export function checkAxon(state: ChainState): void {
  const api = state.api;
  if (!api || state.axonBusy || !state.wanted || !state.registrationChecked) return;
  state.axonBusy = true;
  const { netuid } = state.deps.config.bittensor;
  background(
    state,
    readAxonState(api, netuid, state.deps.signer.hotkey.ss58),
    (read) => ({ type: "axonRead", api, read }),
    (error) => ({ type: "failed", api, what: "axon", error }),
  );
}

export function onAxonRead(state: ChainState, api: ApiPromise, read: AxonRead): void {
  if (api !== state.api) return;
  state.axonBusy = false;
  const wanted = state.wanted!;
  const endpoint = formatEndpoint(wanted.ip, wanted.ipType, wanted.port);
  const decision = decideServe(read.axon, wanted, read.block, read.rateLimit);
  if (decision.action === "unchanged") {
    state.axon = { state: "up_to_date", endpoint, block: read.axon!.block };
    return state.log.info("Axon {endpoint} is already served on chain", { endpoint });
  }
  if (decision.action === "wait") {
    state.axon = { state: "waiting", endpoint, untilBlock: decision.untilBlock };
    return state.log.info("Serving axon {endpoint} at block {until}: ServingRateLimit is {limit} blocks", {
      endpoint,
      until: decision.untilBlock,
      limit: read.rateLimit,
    });
  }
  state.axon = { state: "submitting", endpoint };
  state.axonBusy = true;
  const { netuid } = state.deps.config.bittensor;
  background(
    state,
    submitServeAxon(api, netuid, wanted, state.deps.signer, state.deps.requestTimeoutMs ?? 30_000),
    (outcome) => ({ type: "served", api, outcome }),
    (error) => ({ type: "served", api, outcome: { ok: false, message: String(error), rateLimited: false } }),
  );
}

export function onServed(state: ChainState, api: ApiPromise, outcome: ServeOutcome): void {
  if (api !== state.api || state.axon.state !== "submitting") return;
  state.axonBusy = false;
  const endpoint = state.axon.endpoint;
  if (outcome.ok) {
    state.axon = { state: "served", endpoint, block: outcome.block };
    return state.log.info("Served axon {endpoint} at block {block}", { endpoint, block: outcome.block });
  }
  if (outcome.rateLimited) return checkAxon(state); // reads the entry again and waits for the allowed block
  state.axon = { state: "failed", endpoint, message: outcome.message };
  state.log.error("Cannot serve axon {endpoint}: {message}", { endpoint, message: outcome.message });
}
