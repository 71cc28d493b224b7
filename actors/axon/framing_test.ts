import assert from "node:assert/strict";
import fc from "fast-check";
import { MAX_HEAD_BYTES, type Phase, RequestFraming } from "./framing.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

/** The phase after each piece, fed in order to one framing. */
function phases(...pieces: string[]): Phase[] {
  const f = new RequestFraming();
  return pieces.map((p) => f.feed(bytes(p)));
}

const POST = (body: string, extra = "") =>
  `POST /TaskStatus HTTP/1.1\r\nhost: a\r\n${extra}content-length: ${bytes(body).length}\r\n\r\n${body}`;
const CHUNKED = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" +
  "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n";

Deno.test("RequestFraming.feed() moves head → body → idle by Content-Length", () => {
  assert.deepEqual(phases("POST /x HTTP/1.1\r\nhost:", " a\r\ncontent-length: 4\r\n", "\r\n", "ab", "cd"), [
    "head",
    "head",
    "body",
    "body",
    "idle",
  ]);
  assert.deepEqual(phases("GET / HTTP/1.1\r\n\r\n"), ["idle"]);
  assert.deepEqual(phases("\r\n\r\n"), ["idle"], "empty lines between requests");
  assert.deepEqual(phases("GET / HTTP/1.1\nhost: a\n\n"), ["idle"], "bare LF line ends, as httparse accepts");
});

Deno.test("RequestFraming.feed() follows chunked bodies with extensions and trailers", () => {
  const f = new RequestFraming();
  assert.equal(f.feed(bytes(CHUNKED)), "idle");
  assert.equal(f.started, 1);
  assert.deepEqual(phases(CHUNKED.slice(0, -2)), ["body"], "the trailers' empty line ends the body");
  assert.deepEqual(phases(CHUNKED.slice(0, CHUNKED.indexOf("hello") + 2)), ["body"]);
});

Deno.test("RequestFraming.feed() counts pipelined requests and starts each head", () => {
  const f = new RequestFraming();
  assert.equal(f.feed(bytes(POST('{"a":1}') + CHUNKED + "GET / HTTP/1.1\r\nho")), "head");
  assert.equal(f.started, 3);
});

Deno.test("RequestFraming.feed() gives the same phases whatever the byte boundaries", () => {
  const stream = POST('{"task_id":"t-1"}') + CHUNKED + POST("", "x: y\r\n") + POST("é😀");
  fc.assert(
    fc.property(fc.array(fc.nat(stream.length), { maxLength: 12 }), (cuts) => {
      const all = bytes(stream);
      const at = [...new Set([0, ...cuts.map((c) => Math.min(c, all.length)), all.length])].sort((a, b) =>
        a - b
      );
      const f = new RequestFraming();
      for (let i = 0; i + 1 < at.length; i++) f.feed(all.subarray(at[i], at[i + 1]));
      assert.equal(f.phase, "idle");
      assert.equal(f.started, 4);
    }),
  );
  const f = new RequestFraming();
  for (const b of bytes(stream)) f.feed(Uint8Array.of(b));
  assert.deepEqual([f.phase, f.started], ["idle", 4]);
});

Deno.test("RequestFraming.feed() marks streams it cannot follow invalid, with the status to answer", () => {
  const problem = (...pieces: string[]) => {
    const f = new RequestFraming();
    for (const p of pieces) f.feed(bytes(p));
    return [f.phase, f.problem?.status];
  };
  assert.deepEqual(problem("POST / HTTP/1.1\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n"), [
    "invalid",
    400,
  ]);
  assert.deepEqual(problem("POST / HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n"), ["invalid", 400]);
  assert.deepEqual(problem("POST / HTTP/1.1\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\n"), [
    "invalid",
    400,
  ]);
  assert.deepEqual(problem("POST / HTTP/1.1\r\ncontent-length: -1\r\n\r\n"), ["invalid", 400]);
  assert.deepEqual(problem("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), ["invalid", 400]);
  assert.deepEqual(problem("POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"), ["invalid", 400]);
  assert.deepEqual(problem("POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n1\r\nab\r\n"), [
    "invalid",
    400,
  ]);
  assert.deepEqual(problem("GET / HTTP/1.1\r\nx: " + "a".repeat(MAX_HEAD_BYTES)), ["invalid", 431]);
  // Repeated equal lengths are one length (RFC 9110 §8.6).
  assert.deepEqual(problem("POST / HTTP/1.1\r\ncontent-length: 2, 2\r\n\r\nab"), ["idle", undefined]);
});
