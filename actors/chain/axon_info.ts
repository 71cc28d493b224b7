/**
 * The axon endpoint as the chain stores it (`SubtensorModule.Axons`: ip as an integer, ip_type 4 or 6,
 * protocol 4, version as an int) and the decision to call `serve_axon`: only when the stored entry
 * differs, and only once the serving rate limit allows it. Pure: no I/O, no clock.
 */

/** `AxonInfo` of the chain (st `pallets/subtensor/src/lib.rs`), field for field. */
export interface AxonInfo {
  /** Block of the last `serve_axon`; 0 for never. */
  block: number;
  version: number;
  ip: bigint;
  port: number;
  ipType: number;
  protocol: number;
  placeholder1: number;
  placeholder2: number;
}

/** The arguments of `serve_axon` after `netuid`. */
export type ServeParams = Omit<AxonInfo, "block">;

/** bittensor SDK version our axon reports, as `bittensor.core.settings.__version__`. */
export const SDK_VERSION = "10.2.0";
/** `protocol` the SDK's `Axon.info()` sends (`4`, for HTTP). */
export const AXON_PROTOCOL = 4;

/** The SDK's `version_as_int`: "10.2.0" → 10_002_000 (base 1000, least significant last). */
export function versionAsInt(version: string): number {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) throw new RangeError(`Cannot read version "${version}": expected major.minor.patch`);
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p >= 1000)) {
    throw new RangeError(`Cannot encode version "${version}": a part is ≥ 1000`);
  }
  return parts.reduce((acc, p) => acc * 1000 + p, 0);
}

/** Parses a literal IPv4 or IPv6 address into the chain's `(ip, ip_type)`; null when it is not one. */
export function ipToInt(ip: string): { ip: bigint; ipType: 4 | 6 } | null {
  const v4 = parseIpv4(ip);
  if (v4 !== null) return { ip: v4, ipType: 4 };
  const v6 = parseIpv6(ip);
  return v6 === null ? null : { ip: v6, ipType: 6 };
}

/** The address text of a stored `(ip, ip_type)`: dotted for 4, RFC 5952 compressed for 6. */
export function intToIp(ip: bigint, ipType: number): string {
  if (ipType === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String((ip >> s) & 0xffn)).join(".");
  }
  const groups = Array.from({ length: 8 }, (_, i) => Number((ip >> BigInt(112 - 16 * i)) & 0xffffn));
  // Longest run (≥ 2) of zero groups becomes "::"; the first such run on a tie.
  let best = { start: -1, len: 0 };
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len && j - i >= 2) best = { start: i, len: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.start < 0) return hex.join(":");
  return `${hex.slice(0, best.start).join(":")}::${hex.slice(best.start + best.len).join(":")}`;
}

function parseIpv4(s: string): bigint | null {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  let n = 0n;
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return null;
    n = (n << 8n) | BigInt(p);
  }
  return n;
}

function parseIpv6(s: string): bigint | null {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.split("::").length > 2) return null;
  let tail = s;
  let v4tail: bigint | null = null;
  const lastColon = s.lastIndexOf(":");
  if (s.includes(".")) {
    v4tail = parseIpv4(s.slice(lastColon + 1));
    if (v4tail === null) return null;
    tail = s.slice(0, lastColon + 1) + "0:0"; // two placeholder groups, replaced below
  }
  const [head, rest] = tail.includes("::") ? tail.split("::") : [tail, null];
  const split = (x: string) => (x === "" ? [] : x.split(":"));
  const left = split(head);
  const right = rest === null ? [] : split(rest);
  const missing = 8 - left.length - right.length;
  if (rest === null ? missing !== 0 : missing < 1) return null;
  const groups = [...left, ...Array(rest === null ? 0 : missing).fill("0"), ...right];
  let n = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    n = (n << 16n) | BigInt(parseInt(g, 16));
  }
  return v4tail === null ? n : (n & ~0xffffffffn) | v4tail;
}

const U32_MAX = 0xffffffffn;
const U128_MAX = (1n << 128n) - 1n;
const LOCALHOST_V4 = 0x7f000001n;

/**
 * The chain's own checks of `serve_axon` arguments (st `subnets/serving.rs` `validate_serve_axon`), run
 * before paying for a doomed extrinsic: a reason string, or null when the chain would accept them.
 */
export function invalidServeParams(p: ServeParams): string | null {
  if (p.port === 0) return "port 0 is refused by the chain (InvalidPort)";
  if (p.ipType === 4) {
    if (p.ip >= U32_MAX) return "IPv4 address out of range (InvalidIpAddress)";
    if (p.ip === LOCALHOST_V4) return "127.0.0.1 is refused by the chain (InvalidIpAddress)";
    return null;
  }
  if (p.ipType === 6) {
    if (p.ip === 1n || p.ip === U128_MAX) {
      return "IPv6 ::1 and all-ones are refused by the chain (InvalidIpAddress)";
    }
    return null;
  }
  return `ip_type ${p.ipType} is neither 4 nor 6 (InvalidIpType)`;
}

/** The SDK's up-to-date test: every served field equal (the `block` of the entry aside). */
export function sameAxon(current: AxonInfo | null, wanted: ServeParams): boolean {
  if (!current) return false;
  return current.version === wanted.version && current.ip === wanted.ip && current.port === wanted.port &&
    current.ipType === wanted.ipType && current.protocol === wanted.protocol &&
    current.placeholder1 === wanted.placeholder1 && current.placeholder2 === wanted.placeholder2;
}

export type ServeDecision =
  | { action: "unchanged" }
  | { action: "serve" }
  /** The rate limit forbids serving before `untilBlock` (the block that would include the extrinsic). */
  | { action: "wait"; untilBlock: number };

/**
 * Whether to call `serve_axon` now, given the stored entry, the best block and `ServingRateLimit`.
 * The chain accepts when `rate_limit == 0 || prev.block == 0 || block - prev.block >= rate_limit`, where
 * `block` is the one that includes the extrinsic: the next one after `bestBlock`.
 */
export function decideServe(
  current: AxonInfo | null,
  wanted: ServeParams,
  bestBlock: number,
  rateLimit: number,
): ServeDecision {
  if (sameAxon(current, wanted)) return { action: "unchanged" };
  const last = current?.block ?? 0;
  if (rateLimit === 0 || last === 0 || bestBlock + 1 - last >= rateLimit) return { action: "serve" };
  return { action: "wait", untilBlock: last + rateLimit };
}

/** `ip:port` for logs, bracketed for IPv6. */
export function formatEndpoint(ip: bigint, ipType: number, port: number): string {
  const text = intToIp(ip, ipType);
  return ipType === 6 ? `[${text}]:${port}` : `${text}:${port}`;
}

/** The config keys that decide what the miner serves (a subset of MinerConfig["axon"]). */
export interface AxonConfig {
  enabled: boolean;
  ip: string;
  port: number;
  external_ip: string | null;
}

/**
 * What to serve: `axon.external_ip` (else `axon.ip` when it is a routable literal) and `axon.port`, with
 * the SDK's protocol 4, version and zero placeholders; or why nothing can be served.
 */
export function wantedAxon(
  cfg: AxonConfig,
  version: string,
): { ok: true; params: ServeParams } | { ok: false; reason: string } {
  if (!cfg.enabled) return { ok: false, reason: "axon.enabled is false" };
  const unspecified = cfg.ip === "0.0.0.0" || cfg.ip === "::" || cfg.ip === "localhost";
  const address = cfg.external_ip ?? (unspecified ? null : cfg.ip);
  if (address === null) {
    return {
      ok: false,
      reason: `axon.external_ip is not set and axon.ip "${cfg.ip}" is not an address validators can reach: ` +
        `set axon.external_ip to the miner's public IP`,
    };
  }
  const parsed = ipToInt(address);
  if (!parsed) return { ok: false, reason: `"${address}" is not a literal IPv4 or IPv6 address` };
  const params: ServeParams = {
    version: versionAsInt(version),
    ip: parsed.ip,
    port: cfg.port,
    ipType: parsed.ipType,
    protocol: AXON_PROTOCOL,
    placeholder1: 0,
    placeholder2: 0,
  };
  const invalid = invalidServeParams(params);
  return invalid
    ? { ok: false, reason: `Cannot serve "${address}:${cfg.port}": ${invalid}` }
    : { ok: true, params };
}
