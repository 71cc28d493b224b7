/**
 * Exact-length reads over a byte stream, for the tar reader: a header is 512 bytes whatever the
 * chunking of the decompressor, and entry data is handed on in chunks without buffering a whole file.
 */
import { DatasetError } from "./limits.ts";

export class ByteReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buf: Uint8Array = new Uint8Array(0);
  #done = false;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /** Up to `n` bytes without consuming them (fewer only at the end of the stream). */
  async peek(n: number): Promise<Uint8Array> {
    while (this.#buf.length < n && !this.#done) await this.#fill();
    return this.#buf.subarray(0, Math.min(n, this.#buf.length));
  }

  /** Exactly `n` bytes; null at a clean end of stream; throws when the stream ends part way. */
  async read(n: number, what: string): Promise<Uint8Array | null> {
    const got = await this.peek(n);
    if (got.length === 0 && this.#done) return null;
    if (got.length < n) throw new DatasetError(`Cannot read ${what}: archive is truncated`);
    const out = got.slice();
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** Yields exactly `n` bytes in the chunks they arrive in. */
  async *chunks(n: number, what: string): AsyncGenerator<Uint8Array> {
    let left = n;
    while (left > 0) {
      if (this.#buf.length === 0) await this.#fill();
      if (this.#buf.length === 0) throw new DatasetError(`Cannot read ${what}: archive is truncated`);
      const take = this.#buf.subarray(0, Math.min(left, this.#buf.length));
      this.#buf = this.#buf.subarray(take.length);
      left -= take.length;
      yield take;
    }
  }

  /** Everything left in the stream, chunk by chunk. */
  async *rest(): AsyncGenerator<Uint8Array> {
    for (;;) {
      if (this.#buf.length === 0) await this.#fill();
      if (this.#buf.length === 0) return;
      const chunk = this.#buf;
      this.#buf = new Uint8Array(0);
      yield chunk;
    }
  }

  async skip(n: number, what: string): Promise<void> {
    for await (const _ of this.chunks(n, what)) { /* discard */ }
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }

  async #fill(): Promise<void> {
    const { value, done } = await this.#reader.read();
    if (done) {
      this.#done = true;
      return;
    }
    if (this.#buf.length === 0) {
      this.#buf = value;
      return;
    }
    const next = new Uint8Array(this.#buf.length + value.length);
    next.set(this.#buf);
    next.set(value, this.#buf.length);
    this.#buf = next;
  }
}
