/**
 * Where a client's byte stream of HTTP/1.1 requests stands: between requests, in a request's headers,
 * or in its body (Content-Length or chunked), so the TCP front (front.ts) can hold each phase to its
 * deadline without parsing requests itself: Deno.serve behind it does that. Pure and incremental: bytes
 * in, phase out. A stream it cannot follow (a head past `MAX_HEAD_BYTES`, conflicting lengths, HTTP/2)
 * is `invalid`; the front closes it, as the server behind would.
 */

/** Headers larger than this are refused (431): validators send about 2 KB. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** A chunk-size line or trailer line longer than this is invalid. */
const MAX_LINE_BYTES = 4 * 1024;

export type Phase = "idle" | "head" | "body" | "invalid";

const LF = 10;
const CR = 13;

type Body =
  | { kind: "length"; left: number }
  | { kind: "chunk-size" }
  | { kind: "chunk-data"; left: number }
  | { kind: "chunk-end" }
  | { kind: "trailers" };

export class RequestFraming {
  phase: Phase = "idle";
  /** Requests whose first byte has arrived (the one in progress included). */
  started = 0;
  /** Why the stream is invalid, for the log; with the status to answer. */
  problem: { status: 400 | 431; message: string } | null = null;
  #head: Uint8Array[] = [];
  #headBytes = 0;
  /** The current line (in the head, or of a chunked body) has had only CR so far. */
  #lineEmpty = true;
  #lineBytes = 0;
  #body: Body | null = null;

  /** Advances over `bytes`; returns the phase after them. */
  feed(bytes: Uint8Array): Phase {
    let i = 0;
    while (i < bytes.length && this.phase !== "invalid") {
      switch (this.phase) {
        case "idle":
          i = this.#idle(bytes, i);
          break;
        case "head":
          i = this.#headBytesFrom(bytes, i);
          break;
        case "body":
          i = this.#bodyBytes(bytes, i);
          break;
      }
    }
    return this.phase;
  }

  /** Empty lines between requests are allowed (RFC 9112 §2.2); any other byte starts a request. */
  #idle(bytes: Uint8Array, i: number): number {
    while (i < bytes.length && (bytes[i] === CR || bytes[i] === LF)) i++;
    if (i < bytes.length) {
      this.phase = "head";
      this.started++;
      this.#head = [];
      this.#headBytes = 0;
      this.#lineEmpty = false;
    }
    return i;
  }

  /** Up to the empty line ending the head (CRLF or bare LF line ends, as httparse accepts). */
  #headBytesFrom(bytes: Uint8Array, start: number): number {
    let i = start;
    let end = -1;
    while (i < bytes.length) {
      const lf = bytes.indexOf(LF, i);
      const lineEnd = lf === -1 ? bytes.length : lf;
      // Stops at the line's first byte unless it is CR: one look per line, not per byte.
      for (let j = i; j < lineEnd && this.#lineEmpty; j++) if (bytes[j] !== CR) this.#lineEmpty = false;
      if (lf === -1) break;
      if (this.#lineEmpty) {
        end = lf + 1;
        break;
      }
      this.#lineEmpty = true;
      i = lf + 1;
    }
    const stop = end === -1 ? bytes.length : end;
    this.#headBytes += stop - start;
    if (this.#headBytes > MAX_HEAD_BYTES) {
      return this.#invalid(431, `Request headers are larger than ${MAX_HEAD_BYTES} bytes`);
    }
    this.#head.push(bytes.slice(start, stop));
    if (end !== -1) this.#endHead();
    return stop;
  }

  #endHead(): void {
    const text = new TextDecoder("latin1").decode(concat(this.#head, this.#headBytes));
    this.#head = [];
    const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
    if (/HTTP\/2/i.test(lines[0])) return void this.#invalid(400, "HTTP/2 is not served");
    const lengths = new Set<string>();
    let codings: string[] = [];
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === "content-length") { for (const v of value.split(",")) lengths.add(v.trim()); }
      else if (name === "transfer-encoding") codings = codings.concat(value.toLowerCase().split(","));
    }
    codings = codings.map((c) => c.trim()).filter((c) => c !== "");
    if (codings.length > 0) {
      if (lengths.size > 0 || codings.at(-1) !== "chunked") {
        return void this.#invalid(400, "Transfer-Encoding is not chunked or comes with Content-Length");
      }
      this.#startBody({ kind: "chunk-size" });
      return;
    }
    if (lengths.size > 1) return void this.#invalid(400, "Content-Length values differ");
    const [length = "0"] = lengths;
    if (!/^\d{1,15}$/.test(length)) return void this.#invalid(400, "Content-Length is not a number");
    const left = Number(length);
    if (left === 0) this.phase = "idle";
    else this.#startBody({ kind: "length", left });
  }

  #startBody(body: Body): void {
    this.phase = "body";
    this.#body = body;
    this.#lineEmpty = true;
    this.#lineBytes = 0;
  }

  #bodyBytes(bytes: Uint8Array, i: number): number {
    const body = this.#body!;
    switch (body.kind) {
      case "length":
      case "chunk-data": {
        const take = Math.min(body.left, bytes.length - i);
        body.left -= take;
        if (body.left === 0) {
          if (body.kind === "length") this.#endBody();
          else this.#startBody({ kind: "chunk-end" });
        }
        return i + take;
      }
      case "chunk-size":
      case "chunk-end":
      case "trailers":
        return this.#bodyLine(body, bytes, i);
    }
  }

  /** One line of chunked framing: a size line, the CRLF after a chunk's data, or a trailer line. */
  #bodyLine(body: Body, bytes: Uint8Array, start: number): number {
    const lf = bytes.indexOf(LF, start);
    const stop = lf === -1 ? bytes.length : lf + 1;
    const chunk = bytes.subarray(start, lf === -1 ? stop : lf);
    this.#lineBytes += chunk.length;
    if (this.#lineBytes > MAX_LINE_BYTES) return this.#invalid(400, "A chunked-body line is too long");
    if (body.kind === "chunk-size") this.#head.push(chunk.slice());
    for (const b of chunk) if (b !== CR) this.#lineEmpty = false;
    if (lf === -1) return stop;
    const empty = this.#lineEmpty;
    this.#lineEmpty = true;
    this.#lineBytes = 0;
    if (body.kind === "chunk-end") {
      if (!empty) return this.#invalid(400, "Chunk data is longer than its size");
      this.#startBody({ kind: "chunk-size" });
    } else if (body.kind === "trailers") {
      if (empty) this.#endBody();
    } else {
      const line = new TextDecoder("latin1").decode(concat(this.#head, -1));
      this.#head = [];
      const size = /^\s*([0-9a-fA-F]{1,12})\s*(;.*)?\r?$/.exec(line);
      if (!size) return this.#invalid(400, "A chunk size is not hexadecimal");
      const left = parseInt(size[1], 16);
      this.#startBody(left === 0 ? { kind: "trailers" } : { kind: "chunk-data", left });
    }
    return stop;
  }

  #endBody(): void {
    this.phase = "idle";
    this.#body = null;
  }

  #invalid(status: 400 | 431, message: string): number {
    this.phase = "invalid";
    this.problem = { status, message };
    this.#head = [];
    return Number.MAX_SAFE_INTEGER;
  }
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const total = size >= 0 ? size : parts.reduce((n, p) => n + p.length, 0);
  const all = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return all;
}
