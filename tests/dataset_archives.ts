/**
 * Builders for test archives, malicious ones included: a ustar writer and a zip writer that will
 * write any name, link or declared size the test asks for, which real archivers refuse to do.
 */
import { crc32Update } from "../actors/task_center/dataset/zip.ts";

const enc = new TextEncoder();

export interface TarEntry {
  name: string;
  /** "0" file, "1" hard link, "2" symlink, "5" folder, "3" char device. */
  type?: string;
  data?: Uint8Array | string;
  linkname?: string;
}

function put(buf: Uint8Array, at: number, len: number, text: string): void {
  buf.set(enc.encode(text).subarray(0, len), at);
}

export function tar(entries: TarEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const data = typeof e.data === "string" ? enc.encode(e.data) : e.data ?? new Uint8Array(0);
    const h = new Uint8Array(512);
    put(h, 0, 100, e.name);
    put(h, 100, 8, "0000644\0");
    put(h, 108, 8, "0000000\0");
    put(h, 116, 8, "0000000\0");
    put(h, 124, 12, data.length.toString(8).padStart(11, "0") + "\0");
    put(h, 136, 12, "00000000000\0");
    put(h, 156, 1, e.type ?? "0");
    put(h, 157, 100, e.linkname ?? "");
    put(h, 257, 8, "ustar\u000000");
    put(h, 148, 8, "        ");
    const sum = h.reduce((a, b) => a + b, 0);
    put(h, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
    parts.push(h, data, new Uint8Array((512 - (data.length % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  return concat(parts);
}

export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  return await collect(
    new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream("gzip")),
  );
}

export interface ZipEntry {
  name: string;
  data?: Uint8Array | string;
  /** Unix mode for the external attributes (0o120777 for a symlink). */
  mode?: number;
  /** Lie about the uncompressed size in the central directory. */
  declaredSize?: number;
  store?: boolean;
}

export async function zip(entries: ZipEntry[]): Promise<Uint8Array> {
  const locals: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const data = typeof e.data === "string" ? enc.encode(e.data) : e.data ?? new Uint8Array(0);
    const body = e.store ? data : await collect(
      new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream("deflate-raw")),
    );
    const name = enc.encode(e.name);
    const crc = (crc32Update(0xffffffff, data) ^ 0xffffffff) >>> 0;
    const size = e.declaredSize ?? data.length;
    const lfh = new DataView(new ArrayBuffer(30));
    lfh.setUint32(0, 0x04034b50, true);
    lfh.setUint16(4, 20, true);
    lfh.setUint16(8, e.store ? 0 : 8, true);
    lfh.setUint32(14, crc, true);
    lfh.setUint32(18, body.length, true);
    lfh.setUint32(22, size, true);
    lfh.setUint16(26, name.length, true);
    const cdh = new DataView(new ArrayBuffer(46));
    cdh.setUint32(0, 0x02014b50, true);
    cdh.setUint16(4, (3 << 8) | 20, true); // made by Unix: the mode is in the high bits
    cdh.setUint16(6, 20, true);
    cdh.setUint16(10, e.store ? 0 : 8, true);
    cdh.setUint32(16, crc, true);
    cdh.setUint32(20, body.length, true);
    cdh.setUint32(24, size, true);
    cdh.setUint16(28, name.length, true);
    cdh.setUint32(38, ((e.mode ?? 0o100644) << 16) >>> 0, true);
    cdh.setUint32(42, offset, true);
    locals.push(new Uint8Array(lfh.buffer), name, body);
    central.push(new Uint8Array(cdh.buffer), name);
    offset += 30 + name.length + body.length;
  }
  const cd = concat(central);
  const eocd = new DataView(new ArrayBuffer(22));
  eocd.setUint32(0, 0x06054b50, true);
  eocd.setUint16(8, entries.length, true);
  eocd.setUint16(10, entries.length, true);
  eocd.setUint32(12, cd.length, true);
  eocd.setUint32(16, offset, true);
  return concat([...locals, cd, new Uint8Array(eocd.buffer)]);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), at += p.length);
  return out;
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of stream) parts.push(c);
  return concat(parts);
}
