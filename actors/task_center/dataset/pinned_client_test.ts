import assert from "node:assert/strict";
import { openTunnel, pinnedClient } from "./pinned_client.ts";

// A test-only CA and a certificate for "dataset.example" it signed (EC P-256, valid to 2126): made
// once with openssl for these tests, trusted nowhere else.
const TEST_CA = `-----BEGIN CERTIFICATE-----
MIIBpjCCAUugAwIBAgIULI52R5NuJdd/qIqZfKOuliSdV4owCgYIKoZIzj0EAwIw
HzEdMBsGA1UEAwwUc2F0b3JpLW1pbmVyIHRlc3QgQ0EwIBcNMjYxMTI5MTUxNTU1
WhgPMjEyNjExMDUxNTE1NTVaMB8xHTAbBgNVBAMMFHNhdG9yaS1taW5lciB0ZXN0
IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE6f/xCAJbQSr31VUPzqxl+VX7
ewkZq2kr3UjDvzuQZWlA3UT/lxzFB6Cwxd51F5SHGUGdqGn3i8dhqDWBVYVW6aNj
MGEwHQYDVR0OBBYEFMZlOQ2l+8zNXZiG4avaZsz2GeZUMB8GA1UdIwQYMBaAFMZl
OQ2l+8zNXZiG4avaZsz2GeZUMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQD
AgIEMAoGCCqGSM49BAMCA0kAMEYCIQDVrnp3uLOYM23jX5eOTDlMNUbDBWOu0vjN
0oakj7B7QQIhAO/E3Kk1fzr/1YKUGASYEq0ryfDKJBKz1W1CruVsloVH
-----END CERTIFICATE-----`;
const CERT = `-----BEGIN CERTIFICATE-----
MIIBzTCCAXOgAwIBAgIUZcbQaZs9ivFnAdqiXfUZcWoZeDUwCgYIKoZIzj0EAwIw
HzEdMBsGA1UEAwwUc2F0b3JpLW1pbmVyIHRlc3QgQ0EwIBcNMjYxMTI5MTUxNTU1
WhgPMjEyNjExMDUxNTE1NTVaMBoxGDAWBgNVBAMMD2RhdGFzZXQuZXhhbXBsZTBZ
MBMGByqGSM49AgEGCCqGSM49AwEHA0IABKbe0Pib6e8V7PGA6IbknXDsL2JqM/Wj
yXb5gICP7ydJ6ce9F/YBMQ+ygdij6ytjWQVEJEBifuKtbexeaDQcsRijgY8wgYww
GgYDVR0RBBMwEYIPZGF0YXNldC5leGFtcGxlMAkGA1UdEwQCMAAwEwYDVR0lBAww
CgYIKwYBBQUHAwEwDgYDVR0PAQH/BAQDAgeAMB0GA1UdDgQWBBSRbC4aPnqzdd8R
7Gu5PhMaF99b8TAfBgNVHSMEGDAWgBTGZTkNpfvMzV2YhuGr2mbM9hnmVDAKBggq
hkjOPQQDAgNIADBFAiEAujUfI10GfeVTNuf+BQ1d/smTJJGjM0YOfBhPygqKtUcC
IBIkzllJJa5gxli9agqHCToVfpvMVNGvfk6f7L3MAzO4
-----END CERTIFICATE-----`;
const KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQggsSGTjngMGWgDod8
/EMjVF+tW7E0RS/0ioawb3V5FBChRANCAASm3tD4m+nvFezxgOiG5J1w7C9iajP1
o8l2+YCAj+8nSenHvRf2ATEPsoHYo+srY1kFRCRAYn7irW3sXmg0HLEY
-----END PRIVATE KEY-----`;

function httpsServer() {
  const hosts: (string | null)[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: CERT, key: KEY, onListen: () => {} },
    (req) => {
      hosts.push(new URL(req.url).host);
      return new Response("ok");
    },
  );
  return { port: server.addr.port, hosts, close: () => server.shutdown() };
}

Deno.test("pinnedClient() reaches an https name at the checked address, certificate checked against the name", async () => {
  const server = httpsServer();
  try {
    // "dataset.example" is in no DNS: only the pinned address can answer.
    const url = new URL(`https://dataset.example:${server.port}/d.jsonl`);
    const pinned = pinnedClient(url, "127.0.0.1", [TEST_CA]);
    try {
      const res = await fetch(url, { client: pinned.client });
      assert.equal(await res.text(), "ok");
    } finally {
      pinned.close();
    }
    assert.deepEqual(server.hosts, [url.host]);
    // The same address under a name the certificate does not hold: TLS refuses it.
    const other = new URL(`https://other.example:${server.port}/d.jsonl`);
    const wrong = pinnedClient(other, "127.0.0.1", [TEST_CA]);
    try {
      await assert.rejects(fetch(other, { client: wrong.client }));
    } finally {
      wrong.close();
    }
  } finally {
    await server.close();
  }
});

Deno.test("pinnedClient() sends a plain http request to the checked address with the URL's Host", async () => {
  let host: string | null = null;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    host = req.headers.get("host");
    return new Response("ok");
  });
  const url = new URL(`http://files.example:${server.addr.port}/d.jsonl`);
  const pinned = pinnedClient(url, "127.0.0.1");
  try {
    assert.equal(await (await fetch(url, { client: pinned.client })).text(), "ok");
    assert.equal(host, url.host);
  } finally {
    pinned.close();
    await server.shutdown();
  }
});

Deno.test("openTunnel() answers 403 to a CONNECT for any other host", async () => {
  const tunnel = openTunnel("dataset.example:443", { hostname: "127.0.0.1", port: 9 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: tunnel.port });
  try {
    await conn.write(new TextEncoder().encode("CONNECT internal.example:443 HTTP/1.1\r\n\r\n"));
    const buf = new Uint8Array(256);
    const n = await conn.read(buf);
    assert.match(new TextDecoder().decode(buf.subarray(0, n ?? 0)), /^HTTP\/1\.1 403/);
  } finally {
    conn.close();
    tunnel.close();
  }
});
