/**
 * Which addresses a dataset download may reach: public unicast only, unless the operator's
 * allow-list (config `dataset.allow_hosts`) names the host, the address or a range holding it.
 * Pure: parsing and classifying only, so every rule is tested without a network. Addresses come
 * from URL hostnames (already canonical: the URL parser turns `0x7f.1` into `127.0.0.1`) and from
 * DNS answers.
 */

/** An address as bytes: 4 for IPv4, 16 for IPv6. */
type Bytes = number[];

interface Range {
  bytes: Bytes;
  bits: number;
}

/** The 4 bytes of a dotted-quad IPv4 address, or null. */
export function parseIPv4(text: string): Bytes | null {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p))) return null;
  const bytes = parts.map(Number);
  return bytes.every((b) => b <= 255) ? bytes : null;
}

/** The 16 bytes of an IPv6 address (brackets, `::` and a trailing dotted quad allowed), or null. */
export function parseIPv6(text: string): Bytes | null {
  let s = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  if (s.includes("%")) return null; // zone ids name a local interface: never a dataset host
  let tail: Bytes = [];
  const quad = s.match(/^(.*:)(\d+\.\d+\.\d+\.\d+)$/);
  if (quad) {
    const v4 = parseIPv4(quad[2]);
    if (!v4) return null;
    tail = v4;
    s = quad[1].endsWith("::") ? quad[1] : quad[1].slice(0, -1);
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const [head, rest] = [groups(halves[0]), halves.length === 2 ? groups(halves[1]) : []];
  if (![...head, ...rest].every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return null;
  const want = 8 - tail.length / 2;
  const fill = want - head.length - rest.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return null;
  const words = [...head, ...Array(fill).fill("0"), ...rest].map((g) => parseInt(g, 16));
  return [...words.flatMap((w) => [w >> 8, w & 0xff]), ...tail];
}

function parseRange(text: string): Range | null {
  const [addr, len, extra] = text.split("/");
  if (extra !== undefined) return null;
  const bytes = parseIPv4(addr) ?? parseIPv6(addr);
  if (!bytes) return null;
  const bits = len === undefined ? bytes.length * 8 : /^\d{1,3}$/.test(len) ? Number(len) : -1;
  return bits >= 0 && bits <= bytes.length * 8 ? { bytes, bits } : null;
}

function inRange(bytes: Bytes, range: Range): boolean {
  if (bytes.length !== range.bytes.length) return false;
  for (let i = 0; i < range.bits; i++) {
    const bit = (b: Bytes) => (b[i >> 3] >> (7 - (i & 7))) & 1;
    if (bit(bytes) !== bit(range.bytes)) return false;
  }
  return true;
}

const ranges = (list: string[]): Range[] => list.map((r) => parseRange(r)!);

// Not reachable as a public host, or reachable only inside some network: this machine, its LAN,
// its cloud provider (169.254.169.254), carrier NAT, documentation, benchmarking, multicast, reserved.
const V4_BLOCKED = ranges([
  "0.0.0.0/8", // "this network", including the unspecified address
  "10.0.0.0/8",
  "100.64.0.0/10", // carrier-grade NAT
  "127.0.0.0/8",
  "169.254.0.0/16", // link-local, cloud metadata
  "172.16.0.0/12",
  "192.0.0.0/24", // IETF protocol assignments
  "192.0.2.0/24", // documentation
  "192.88.99.0/24", // 6to4 relay anycast
  "192.168.0.0/16",
  "198.18.0.0/15", // benchmarking
  "198.51.100.0/24",
  "203.0.113.0/24",
  "224.0.0.0/4", // multicast
  "240.0.0.0/4", // reserved, including 255.255.255.255
]);

// Global unicast is 2000::/3; inside it these are not public hosts.
const V6_GLOBAL = parseRange("2000::/3")!;
const V6_BLOCKED = ranges([
  "2001::/32", // Teredo: the IPv4 inside is obfuscated, so it cannot be checked
  "2001:2::/48", // benchmarking
  "2001:10::/28", // ORCHID
  "2001:db8::/32", // documentation
  "3fff::/20", // documentation
]);
// Ranges that carry an IPv4 address: public only when the address inside is.
const V6_EMBEDS: [Range, (b: Bytes) => Bytes][] = [
  [parseRange("::ffff:0:0/96")!, (b) => b.slice(12)], // IPv4-mapped
  [parseRange("64:ff9b::/96")!, (b) => b.slice(12)], // NAT64
  [parseRange("2002::/16")!, (b) => b.slice(2, 6)], // 6to4
];

/** Whether `address` (IPv4 or IPv6 text) is a public unicast address; false when it is not an address. */
export function isPublicAddress(address: string): boolean {
  const v4 = parseIPv4(address);
  if (v4) return !V4_BLOCKED.some((r) => inRange(v4, r));
  const v6 = parseIPv6(address);
  if (!v6) return false;
  const embed = V6_EMBEDS.find(([r]) => inRange(v6, r));
  if (embed) return isPublicAddress(embed[1](v6).join("."));
  return inRange(v6, V6_GLOBAL) && !V6_BLOCKED.some((r) => inRange(v6, r));
}

/** Whether `host` (a URL hostname, brackets allowed) is an IP literal rather than a name. */
export function isIpLiteral(host: string): boolean {
  return parseIPv4(host) !== null || parseIPv6(host) !== null;
}

/** `[::1]` → `::1`: the form DNS answers and Deno.connect use. */
export function unbracket(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** Names every resolver maps to loopback without asking DNS (RFC 6761). */
export function isLocalhostName(host: string): boolean {
  const h = normalName(host);
  return h === "localhost" || h.endsWith(".localhost");
}

function normalName(host: string): string {
  return host.toLowerCase().replace(/\.$/, "");
}

/**
 * The operator's exceptions (config `dataset.allow_hosts`): hostnames, matched exactly and
 * trusted whatever they resolve to, and IP addresses or CIDR ranges, matched against the address
 * a request would reach. Throws TypeError on an entry that is none of these (config validates
 * first, so this only catches a test or a caller passing nonsense).
 */
export class AllowList {
  readonly #names = new Set<string>();
  readonly #ranges: Range[] = [];

  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const range = parseRange(entry);
      if (range) this.#ranges.push(range);
      else if (/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\.?$/.test(entry)) this.#names.add(normalName(entry));
      else {throw new TypeError(
          `Invalid dataset.allow_hosts entry "${entry}": expected a hostname, IP or CIDR`,
        );}
    }
  }

  /** The hostname is listed by name: no address check applies to it. */
  allowsName(host: string): boolean {
    return this.#names.has(normalName(unbracket(host)));
  }

  /** The address lies in a listed address or range. */
  allowsAddress(address: string): boolean {
    const bytes = parseIPv4(address) ?? parseIPv6(address);
    return bytes !== null && this.#ranges.some((r) => inRange(bytes, r));
  }

  /** Whether a request may connect to `address`: public, or listed. */
  permits(address: string): boolean {
    return isPublicAddress(address) || this.allowsAddress(address);
  }
}
