/**
 * The ChainActor's calls to a Subtensor node through @polkadot/api, one function per chain interaction:
 * open a connection (no auto-reconnect: the actor owns retries), read the own registration and axon
 * entry, read the metagraph through the first runtime API that works, and submit `serve_axon` signed
 * by the miner's hotkey. No state here; every function takes the connected `ApiPromise`.
 */
import { ApiPromise, WsProvider } from "@polkadot/api";
import type { Signer, SignerResult } from "@polkadot/api/types";
import type { ExtDef } from "@polkadot/types/extrinsic/signedExtensions/types";
import type { Codec, SignerPayloadJSON } from "@polkadot/types/types";
import { hexToU8a, u8aConcat, u8aToHex } from "@polkadot/util";
import { blake2AsU8a } from "@polkadot/util-crypto";
import type { AxonInfo, ServeParams } from "./axon_info.ts";
import type { MetagraphColumns, MetagraphSource } from "./metagraph.ts";
import {
  bytesOf,
  decodeBytesResult,
  metagraphPlan,
  neuronsLiteColumns,
  type RuntimeFeatures,
  SELECTIVE_INDEXES,
  selectiveColumns,
  subnetStateColumns,
} from "./runtime_types.ts";

/** What signs extrinsics: core/wallet.ts `Wallet` fits (its `sign` takes raw bytes). */
export interface ChainSigner {
  readonly hotkey: { readonly ss58: string };
  sign(message: Uint8Array): `0x${string}`;
}

// Subtensor's own transaction extensions carry no payload (spec 218 and 343 names); declaring them
// silences polkadot-js' "unknown signed extensions" warning and signs the same bytes.
const EMPTY_EXTENSION = { extrinsic: {}, payload: {} };
export const SUBTENSOR_EXTENSIONS: ExtDef = {
  SubtensorSignedExtension: EMPTY_EXTENSION,
  CommitmentsSignedExtension: EMPTY_EXTENSION,
  SubtensorTransactionExtension: EMPTY_EXTENSION,
  DrandPriority: EMPTY_EXTENSION,
};

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new DOMException(`${what} timed out after ${ms} ms`, "TimeoutError")),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Connects and loads the runtime's metadata; rejects (and closes the socket) when that fails or stalls. */
export async function openApi(
  endpoint: string,
  connectTimeoutMs: number,
  requestTimeoutMs: number,
): Promise<ApiPromise> {
  const provider = new WsProvider(endpoint, false, {}, requestTimeoutMs);
  let api: ApiPromise | null = null;
  const offs: (() => void)[] = [];
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        offs.push(provider.on("connected", () => resolve()));
        offs.push(provider.on("error", () => reject(new Error(`WebSocket error on ${endpoint}`))));
        offs.push(provider.on("disconnected", () => reject(new Error(`Connection to ${endpoint} closed`))));
        provider.connect().catch(reject);
      }),
      connectTimeoutMs,
      `Connecting to ${endpoint}`,
    );
    offs.forEach((off) => off());
    api = new ApiPromise({
      provider,
      noInitWarn: true,
      throwOnConnect: true,
      signedExtensions: SUBTENSOR_EXTENSIONS,
    });
    await withTimeout(api.isReadyOrError, connectTimeoutMs, `Loading metadata from ${endpoint}`);
    return api;
  } catch (e) {
    offs.forEach((off) => off());
    await (api ? api.disconnect() : provider.disconnect()).catch(() => {});
    throw e;
  }
}

/** Own registration: the uid from `Uids(netuid, hotkey)`, and whether the subnet exists at all. */
export async function readRegistration(
  api: ApiPromise,
  netuid: number,
  hotkey: string,
): Promise<{ uid: number | null; subnetExists: boolean }> {
  const sub = api.query.subtensorModule;
  const [uid, added] = await Promise.all([
    sub.uids(netuid, hotkey),
    sub.networksAdded ? sub.networksAdded(netuid) : Promise.resolve(null),
  ]);
  const opt = uid as unknown as { isSome: boolean; unwrap(): Codec };
  return {
    uid: opt.isSome ? Number(opt.unwrap().toString()) : null,
    subnetExists: added === null ? true : (added as unknown as { isTrue: boolean }).isTrue,
  };
}

/** `Timestamp.Now` at block `hash`: when its author built it (ms since the epoch). */
export async function readBlockTimestamp(api: ApiPromise, hash: string): Promise<number> {
  return Number((await api.query.timestamp.now.at(hash)).toString());
}

/** The stored axon entry (null if never served), `ServingRateLimit(netuid)` and the best block. */
export async function readAxonState(
  api: ApiPromise,
  netuid: number,
  hotkey: string,
): Promise<{ axon: AxonInfo | null; rateLimit: number; block: number }> {
  const sub = api.query.subtensorModule;
  const [axon, rateLimit, header] = await Promise.all([
    sub.axons(netuid, hotkey),
    sub.servingRateLimit(netuid),
    api.rpc.chain.getHeader(),
  ]);
  const opt = axon as unknown as { isSome: boolean; unwrap(): Record<string, Codec> };
  const num = (c: Codec) => Number(c.toString());
  let info: AxonInfo | null = null;
  if (opt.isSome) {
    const a = opt.unwrap();
    info = {
      block: num(a.block),
      version: num(a.version),
      ip: BigInt(a.ip.toString()),
      port: num(a.port),
      ipType: num(a.ipType),
      protocol: num(a.protocol),
      placeholder1: num(a.placeholder1),
      placeholder2: num(a.placeholder2),
    };
  }
  return { axon: info, rateLimit: Number(rateLimit.toString()), block: header.number.toNumber() };
}

async function readColumns(
  api: ApiPromise,
  netuid: number,
  source: MetagraphSource,
  features: RuntimeFeatures,
): Promise<MetagraphColumns | null> {
  const call = api.call as unknown as Record<string, Record<string, (...args: unknown[]) => Promise<Codec>>>;
  switch (source) {
    case "selective_metagraph":
      return selectiveColumns(
        await call.subnetInfoRuntimeApi.getSelectiveMetagraph(netuid, SELECTIVE_INDEXES),
      );
    case "subnet_state": {
      const result = await call.subnetInfoRuntimeApi.getSubnetState(netuid);
      return subnetStateColumns(
        features.subnetState === "bytes" ? decodeBytesResult("subnet_state", bytesOf(result)) : result,
      );
    }
    case "neurons_lite": {
      const result = await call.neuronInfoRuntimeApi.getNeuronsLite(netuid);
      const decoded = features.neuronsLite === "bytes"
        ? decodeBytesResult("neurons_lite", bytesOf(result))
        : result;
      const cols = neuronsLiteColumns(decoded);
      return cols.hotkeys.length === 0 ? null : cols;
    }
  }
}

/** Reads the metagraph with the first source in the runtime's plan that answers; throws when none does. */
export async function readMetagraph(
  api: ApiPromise,
  netuid: number,
  features: RuntimeFeatures,
): Promise<{ columns: MetagraphColumns; source: MetagraphSource; block: number }> {
  const block = (await api.rpc.chain.getHeader()).number.toNumber();
  const problems: string[] = [];
  for (const source of metagraphPlan(features)) {
    if (!api.isConnected) break; // the other sources would fail the same way
    try {
      const columns = await readColumns(api, netuid, source, features);
      if (columns) return { columns, source, block };
      problems.push(`${source} returned nothing`);
    } catch (e) {
      problems.push(`${source}: ${(e as Error).message}`);
    }
  }
  if (problems.length === 0) problems.push("the runtime offers none of get_subnet_state, get_neurons_lite");
  throw new Error(`Cannot read the metagraph of netuid ${netuid}: ${problems.join("; ")}`);
}

/** A polkadot-js Signer over the hotkey: sr25519 over the payload (blake2-256 when > 256 bytes), type-prefixed. */
export function hotkeySigner(api: ApiPromise, signer: ChainSigner): Signer {
  let id = 0;
  return {
    signPayload: (payload: SignerPayloadJSON): Promise<SignerResult> => {
      const encoded = api.registry.createType("ExtrinsicPayload", payload, { version: payload.version })
        .toU8a({ method: true });
      const data = encoded.length > 256 ? blake2AsU8a(encoded, 256) : encoded;
      const signature = u8aConcat(new Uint8Array([1]), hexToU8a(signer.sign(data))); // 1 = Sr25519
      return Promise.resolve({ id: ++id, signature: u8aToHex(signature) });
    },
  };
}

export type ServeOutcome =
  | { ok: true; block: number }
  | { ok: false; message: string; rateLimited: boolean };

/** Submits `serve_axon` and waits until it is in a block (or fails, or `timeoutMs` passes). */
export async function submitServeAxon(
  api: ApiPromise,
  netuid: number,
  p: ServeParams,
  signer: ChainSigner,
  timeoutMs: number,
): Promise<ServeOutcome> {
  const tx = api.tx.subtensorModule.serveAxon(
    netuid,
    p.version,
    p.ip,
    p.port,
    p.ipType,
    p.protocol,
    p.placeholder1,
    p.placeholder2,
  );
  let unsub: (() => void) | undefined;
  let settled = false;
  const outcome = new Promise<ServeOutcome | { ok: true; hash: Codec }>((resolve, reject) => {
    tx.signAndSend(signer.hotkey.ss58, { signer: hotkeySigner(api, signer) }, (result) => {
      const { status, dispatchError } = result;
      if (status.isInvalid || status.isDropped || status.isUsurped) {
        resolve({ ok: false, message: `serve_axon was ${status.type.toLowerCase()}`, rateLimited: false });
      } else if (status.isInBlock || status.isFinalized) {
        if (!dispatchError) {
          return resolve({ ok: true, hash: status.isInBlock ? status.asInBlock : status.asFinalized });
        }
        let message = dispatchError.toString();
        if (dispatchError.isModule) {
          const meta = api.registry.findMetaError(dispatchError.asModule);
          message = `${meta.section}.${meta.name}`;
        }
        resolve({ ok: false, message, rateLimited: message.includes("ServingRateLimitExceeded") });
      }
    }).then((u) => {
      unsub = u;
      if (settled) u(); // the outcome came before the subscription handle
    }, reject);
  });
  try {
    const result = await withTimeout(outcome, timeoutMs, "serve_axon");
    if (!("hash" in result)) return result;
    const header = await api.rpc.chain.getHeader(result.hash.toHex());
    return { ok: true, block: header.number.toNumber() };
  } catch (e) {
    const message = (e as Error).message;
    return { ok: false, message, rateLimited: message.includes("ServingRateLimit") };
  } finally {
    settled = true;
    unsub?.();
  }
}

/** Closes the connection and waits (briefly) for the socket to be closed, so no timer or socket outlives it. */
export async function closeApi(api: ApiPromise): Promise<void> {
  if (!api.isConnected) return void (await api.disconnect().catch(() => {}));
  const closed = new Promise<void>((resolve) => api.once("disconnected", () => resolve()));
  await api.disconnect().catch(() => {});
  await withTimeout(closed, 2_000, "Closing the chain connection").catch(() => {});
}
