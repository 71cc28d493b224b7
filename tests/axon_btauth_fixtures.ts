/**
 * A btauth/1 signer for the task API tests and bench, built on the verifier's own payload (the corpus
 * test holds that payload to the SDK's), and requests for the handler: `new Request` with the headers
 * `bittensor.http_auth.sign` would send.
 */
import { u8aToHex } from "@polkadot/util";
import { ed25519PairFromSeed, ed25519Sign, encodeAddress } from "@polkadot/util-crypto";
import { btauthPayload, type Scheme } from "../actors/axon/btauth.ts";
import type { Wallet } from "../core/wallet.ts";

export interface BtauthSigner {
  readonly ss58: string;
  readonly scheme: Scheme;
  sign(payload: Uint8Array): string;
}

export function walletSigner(wallet: Wallet): BtauthSigner {
  return { ss58: wallet.hotkey.ss58, scheme: "sr25519", sign: (p) => wallet.sign(p) };
}

/** An ed25519 hotkey from a 32-byte seed (a fixed one in tests). */
export function ed25519Signer(seed = new Uint8Array(32).fill(7)): BtauthSigner {
  const pair = ed25519PairFromSeed(seed);
  return {
    ss58: encodeAddress(pair.publicKey, 42),
    scheme: "ed25519",
    sign: (p) => u8aToHex(ed25519Sign(p, pair)),
  };
}

export type SignOptions = {
  method: string;
  target: string;
  body?: string | Uint8Array;
  receiver: string | null;
  nonceNs: bigint;
};

/** The headers `http_auth.sign` returns for this request. */
export function signBtauth(signer: BtauthSigner, o: SignOptions): Record<string, string> {
  const body = typeof o.body === "string" ? new TextEncoder().encode(o.body) : o.body ?? new Uint8Array();
  const headers: Record<string, string> = {
    "X-Bittensor-Version": "1",
    "X-Bittensor-Hotkey": signer.ss58,
    "X-Bittensor-Nonce": o.nonceNs.toString(),
  };
  const scheme = signer.scheme;
  const payload = btauthPayload({ sender: signer.ss58, nonce: o.nonceNs, scheme, receiver: o.receiver }, {
    method: o.method,
    target: o.target,
    body,
  });
  headers["X-Bittensor-Signature"] = signer.sign(payload);
  if (scheme !== "sr25519") headers["X-Bittensor-Crypto"] = scheme;
  if (o.receiver !== null) headers["X-Bittensor-Receiver"] = o.receiver;
  return headers;
}

/** A signed request to the axon handler at `http://axon` (the target as given, body as given). */
export function signedRequest(signer: BtauthSigner, o: SignOptions): Request {
  const body = o.body === undefined || (typeof o.body !== "string" && o.body.length === 0)
    ? undefined
    : o.body;
  return new Request(`http://axon${o.target}`, {
    method: o.method,
    headers: signBtauth(signer, o),
    body: body as BodyInit | undefined,
  });
}
