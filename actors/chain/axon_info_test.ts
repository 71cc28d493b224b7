import assert from "node:assert/strict";
import {
  type AxonInfo,
  decideServe,
  formatEndpoint,
  intToIp,
  invalidServeParams,
  ipToInt,
  sameAxon,
  type ServeParams,
  versionAsInt,
  wantedAxon,
} from "./axon_info.ts";

const WANTED: ServeParams = {
  version: 10_002_000,
  ip: 3_405_803_783n, // 203.0.113.7
  port: 8091,
  ipType: 4,
  protocol: 4,
  placeholder1: 0,
  placeholder2: 0,
};
const stored = (over: Partial<AxonInfo> = {}): AxonInfo => ({ block: 100, ...WANTED, ...over });

Deno.test("versionAsInt() encodes like the SDK's version_as_int (base 1000)", () => {
  assert.equal(versionAsInt("10.2.0"), 10_002_000);
  assert.equal(versionAsInt("9.12.3rc1"), 9_012_003);
  assert.throws(() => versionAsInt("10.2"), /major.minor.patch/);
  assert.throws(() => versionAsInt("1.1000.0"), /≥ 1000/);
});

Deno.test("ipToInt() gives the chain's integer and ip_type, as int(netaddr.IPAddress(ip))", () => {
  assert.deepEqual(ipToInt("1.2.3.4"), { ip: 16_909_060n, ipType: 4 });
  assert.deepEqual(ipToInt("203.0.113.7"), { ip: 3_405_803_783n, ipType: 4 });
  assert.deepEqual(ipToInt("0.0.0.0"), { ip: 0n, ipType: 4 });
  assert.deepEqual(ipToInt("::1"), { ip: 1n, ipType: 6 });
  assert.deepEqual(ipToInt("2001:db8::1"), { ip: 0x20010db8000000000000000000000001n, ipType: 6 });
  assert.deepEqual(ipToInt("::ffff:1.2.3.4"), { ip: 0xffff01020304n, ipType: 6 });
  assert.deepEqual(ipToInt("1:2:3:4:5:6:7:8"), { ip: 0x00010002000300040005000600070008n, ipType: 6 });
  for (
    const bad of [
      "256.1.1.1",
      "1.2.3",
      "01.2.3.4",
      "localhost",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "12345::",
      "",
    ]
  ) {
    assert.equal(ipToInt(bad), null, bad);
  }
});

Deno.test("intToIp() writes dotted IPv4 and RFC 5952 IPv6, the inverse of ipToInt()", () => {
  assert.equal(intToIp(16_909_060n, 4), "1.2.3.4");
  assert.equal(intToIp(1n, 6), "::1");
  assert.equal(intToIp(0n, 6), "::");
  assert.equal(intToIp(0x20010db8000000000000000000000001n, 6), "2001:db8::1");
  assert.equal(intToIp(0x20010db8000100000000000100000001n, 6), "2001:db8:1::1:0:1");
  assert.equal(intToIp(0x00010000000100000001000000010000n, 6), "1:0:1:0:1:0:1:0");
  for (const ip of ["10.0.0.1", "2001:db8::1", "fe80::1:2", "1:2:3:4:5:6:7:8"]) {
    const parsed = ipToInt(ip)!;
    assert.equal(intToIp(parsed.ip, parsed.ipType), ip);
  }
  assert.equal(formatEndpoint(1n, 6, 8091), "[::1]:8091");
  assert.equal(formatEndpoint(16_909_060n, 4, 8091), "1.2.3.4:8091");
});

Deno.test("invalidServeParams() refuses what the chain's validate_serve_axon refuses", () => {
  assert.equal(invalidServeParams(WANTED), null);
  assert.match(invalidServeParams({ ...WANTED, port: 0 })!, /InvalidPort/);
  assert.match(invalidServeParams({ ...WANTED, ip: 0x7f000001n })!, /127\.0\.0\.1/);
  assert.match(invalidServeParams({ ...WANTED, ip: 0xffffffffn })!, /InvalidIpAddress/);
  assert.match(invalidServeParams({ ...WANTED, ipType: 6, ip: 1n })!, /InvalidIpAddress/);
  assert.equal(invalidServeParams({ ...WANTED, ipType: 6, ip: 0n }), null);
  assert.match(invalidServeParams({ ...WANTED, ipType: 5 })!, /InvalidIpType/);
});

Deno.test("sameAxon() compares every served field but the block", () => {
  assert.equal(sameAxon(stored({ block: 7 }), WANTED), true);
  assert.equal(sameAxon(null, WANTED), false);
  for (
    const diff of [{ port: 8092 }, { ip: 1n }, { version: 1 }, { protocol: 0 }, { ipType: 6 }, {
      placeholder1: 1,
    }]
  ) {
    assert.equal(sameAxon(stored(diff), WANTED), false, JSON.stringify(diff, (_, v) => String(v)));
  }
});

Deno.test("decideServe() serves a changed entry only once ServingRateLimit blocks have passed", () => {
  assert.deepEqual(decideServe(stored(), WANTED, 101, 50), { action: "unchanged" });
  assert.deepEqual(decideServe(null, WANTED, 5, 50), { action: "serve" });
  assert.deepEqual(decideServe(stored({ block: 0, port: 1 }), WANTED, 5, 50), { action: "serve" });
  // The extrinsic lands in the next block: from best 148 it would be 149 - 100 < 50.
  assert.deepEqual(decideServe(stored({ port: 1 }), WANTED, 148, 50), { action: "wait", untilBlock: 150 });
  assert.deepEqual(decideServe(stored({ port: 1 }), WANTED, 149, 50), { action: "serve" });
  assert.deepEqual(decideServe(stored({ port: 1 }), WANTED, 100, 0), { action: "serve" });
});

Deno.test("wantedAxon() serves external_ip, else a routable axon.ip, with protocol 4 and the SDK version", () => {
  const cfg = { enabled: true, ip: "0.0.0.0", port: 8091, external_ip: "203.0.113.7" };
  assert.deepEqual(wantedAxon(cfg, "10.2.0"), { ok: true, params: WANTED });
  const own = wantedAxon({ ...cfg, ip: "198.51.100.2", external_ip: null }, "10.2.0");
  assert.ok(own.ok && own.params.ip === 3_325_256_706n);
  const unset = wantedAxon({ ...cfg, external_ip: null }, "10.2.0");
  assert.ok(!unset.ok && unset.reason.includes("set axon.external_ip"));
  assert.deepEqual(wantedAxon({ ...cfg, enabled: false }, "10.2.0"), {
    ok: false,
    reason: "axon.enabled is false",
  });
  const local = wantedAxon({ ...cfg, external_ip: "127.0.0.1" }, "10.2.0");
  assert.ok(!local.ok && local.reason.includes("InvalidIpAddress"));
  const v6 = wantedAxon({ ...cfg, external_ip: "2001:db8::7" }, "10.2.0");
  assert.ok(v6.ok && v6.params.ipType === 6);
});
