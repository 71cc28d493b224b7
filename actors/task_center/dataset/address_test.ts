import assert from "node:assert/strict";
import { AllowList, isPublicAddress, parseIPv6 } from "./address.ts";

Deno.test("isPublicAddress() refuses every range that is not a public host", () => {
  for (
    const a of [
      "0.0.0.0",
      "127.0.0.1",
      "127.255.0.9",
      "10.0.0.1",
      "172.16.0.1",
      "172.31.255.255",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "100.127.255.255",
      "192.0.2.1",
      "198.18.0.1",
      "224.0.0.1",
      "239.255.255.250",
      "255.255.255.255",
      "240.0.0.1",
      "::",
      "::1",
      "fc00::1",
      "fd12:3456::1",
      "fe80::1",
      "febf::1",
      "ff02::1",
      "::ffff:127.0.0.1",
      "::ffff:7f00:1",
      "::ffff:10.0.0.1",
      "::ffff:169.254.169.254",
      "64:ff9b::a9fe:a9fe", // NAT64 of 169.254.169.254
      "2002:0a00:0001::1", // 6to4 of 10.0.0.1
      "2001:db8::1",
      "2001:0:4136:e378::1", // Teredo
      "::127.0.0.1",
      "not an address",
      "fe80::1%eth0",
    ]
  ) assert.equal(isPublicAddress(a), false, a);
});

Deno.test("isPublicAddress() accepts public IPv4 and global IPv6", () => {
  for (
    const a of [
      "93.184.215.14",
      "8.8.8.8",
      "172.32.0.1",
      "100.128.0.1",
      "169.255.0.1",
      "2606:4700::1111",
      "2a00:1450:4001::200e",
      "::ffff:8.8.8.8",
      "64:ff9b::808:808",
      "[2606:4700::1111]",
    ]
  ) assert.equal(isPublicAddress(a), true, a);
});

Deno.test("parseIPv6() reads compressed, full and dotted-quad forms and refuses malformed ones", () => {
  assert.deepEqual(parseIPv6("::1"), [...Array(15).fill(0), 1]);
  assert.deepEqual(parseIPv6("0:0:0:0:0:0:0:1"), parseIPv6("::1"));
  assert.deepEqual(parseIPv6("::ffff:1.2.3.4")?.slice(10), [0xff, 0xff, 1, 2, 3, 4]);
  for (
    const bad of ["1::2::3", "12345::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", ":::", "g::1", "::1.2.3.256"]
  ) {
    assert.equal(parseIPv6(bad), null, bad);
  }
});

Deno.test("AllowList permits listed names, addresses and ranges and nothing else", () => {
  const allow = new AllowList(["127.0.0.1", "10.1.0.0/16", "fd00::/8", "Datasets.Test"]);
  assert.ok(allow.permits("127.0.0.1"));
  assert.ok(!allow.permits("127.0.0.2"));
  assert.ok(allow.permits("10.1.200.3"));
  assert.ok(!allow.permits("10.2.0.1"));
  assert.ok(allow.permits("fd00::5"));
  assert.ok(allow.permits("8.8.8.8"), "public addresses need no listing");
  assert.ok(allow.allowsName("datasets.test."));
  assert.ok(!allow.allowsName("other.test"));
  assert.ok(!new AllowList([]).permits("127.0.0.1"));
  assert.throws(() => new AllowList(["not a host!"]), /dataset\.allow_hosts entry "not a host!"/);
  assert.throws(() => new AllowList(["10.0.0.0/33"]), TypeError);
});
