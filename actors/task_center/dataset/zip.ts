/**
 * A small zip reader over a file on disk: central directory first (every entry's type and declared
 * sizes are checked before anything is written), then each entry inflated with the platform's
 * DecompressionStream("deflate-raw"), its real size held to the declared one and its CRC-32
 * checked. Unix symlinks (mode S_IFLNK in the external attributes), encryption and zip64 are refused.
 */
import { DatasetError } from "./limits.ts";
import type { Extractor } from "./extractor.ts";

const EOCD_SIG = 0x06054b50;
const CDH_SIG = 0x02014b50;
const LFH_SIG = 0x04034b50;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const decoder = new TextDecoder();

interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressed: number;
  size: number;
  mode: number | null;
  offset: number;
}

export async function extractZip(path: string, out: Extractor): Promise<void> {
  using file = await Deno.open(path, { read: true });
  const fileSize = (await file.stat()).size;
  const entries = await readCentralDirectory(file, fileSize);
  let declaredTotal = 0;
  for (const e of entries) {
    checkEntry(e, out);
    declaredTotal += e.size;
  }
  if (entries.length > out.budget.limits.maxFiles) {
    throw new DatasetError(
      `Cannot unpack zip: ${entries.length} entries, more than ${out.budget.limits.maxFiles}`,
    );
  }
  const { maxRatio, ratioFloorBytes } = out.budget.limits;
  if (declaredTotal > ratioFloorBytes && declaredTotal / Math.max(1, fileSize) > maxRatio) {
    throw new DatasetError(
      `Cannot unpack zip: entries declare ${declaredTotal} bytes from ${fileSize}, more than ${maxRatio}x; ` +
        `refused as a decompression bomb`,
    );
  }
  for (const e of entries) {
    if (e.name.endsWith("/")) await out.dir(e.name);
    else await out.file(e.name, inflate(file, e), e.size);
  }
}

function checkEntry(e: ZipEntry, out: Extractor): void {
  const type = e.mode === null ? null : e.mode & S_IFMT;
  if (type !== null && type !== 0 && type !== S_IFREG && type !== S_IFDIR) {
    const what = type === 0o120000
      ? "symbolic link (links are not allowed)"
      : `special file (mode ${e.mode!.toString(8)})`;
    throw out.refuse(e.name, what);
  }
  if (e.flags & 1) throw out.refuse(e.name, "encrypted entries are not supported");
  if (e.method !== 0 && e.method !== 8) {
    throw out.refuse(e.name, `compression method ${e.method} is not supported`);
  }
  if (e.size === 0xffffffff || e.compressed === 0xffffffff || e.offset === 0xffffffff) {
    throw out.refuse(e.name, "zip64 archives are not supported (use tar.gz above 4 GiB)");
  }
}

async function readAt(file: Deno.FsFile, offset: number, length: number): Promise<Uint8Array<ArrayBuffer>> {
  const buf = new Uint8Array(length);
  await file.seek(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < length) {
    const n = await file.read(buf.subarray(got));
    if (n === null) throw new DatasetError("Cannot read zip: archive is truncated");
    got += n;
  }
  return buf;
}

async function readCentralDirectory(file: Deno.FsFile, fileSize: number): Promise<ZipEntry[]> {
  const tailLen = Math.min(fileSize, 22 + 0xffff);
  const tail = await readAt(file, fileSize - tailLen, tailLen);
  const tv = new DataView(tail.buffer);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === EOCD_SIG) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new DatasetError("Cannot read zip: no end of central directory record");
  const count = tv.getUint16(eocd + 10, true);
  const cdSize = tv.getUint32(eocd + 12, true);
  const cdOffset = tv.getUint32(eocd + 16, true);
  if (cdOffset + cdSize > fileSize || cdSize > 256 * 1024 ** 2) {
    throw new DatasetError("Cannot read zip: central directory out of bounds");
  }
  const cd = await readAt(file, cdOffset, cdSize);
  const v = new DataView(cd.buffer);
  const entries: ZipEntry[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 46 > cd.length || v.getUint32(at, true) !== CDH_SIG) {
      throw new DatasetError("Cannot read zip: corrupt central directory");
    }
    const nameLen = v.getUint16(at + 28, true);
    const madeBy = v.getUint16(at + 4, true) >> 8;
    entries.push({
      flags: v.getUint16(at + 8, true),
      method: v.getUint16(at + 10, true),
      crc: v.getUint32(at + 16, true),
      compressed: v.getUint32(at + 20, true),
      size: v.getUint32(at + 24, true),
      // Only Unix-made entries (host 3) carry a mode in the high 16 bits.
      mode: madeBy === 3 ? v.getUint32(at + 38, true) >>> 16 : null,
      offset: v.getUint32(at + 42, true),
      name: decoder.decode(cd.subarray(at + 46, at + 46 + nameLen)),
    });
    at += 46 + nameLen + v.getUint16(at + 30, true) + v.getUint16(at + 32, true);
  }
  return entries;
}

/** The entry's bytes, inflated, never more than it declared, CRC-checked at the end. */
async function* inflate(file: Deno.FsFile, e: ZipEntry): AsyncGenerator<Uint8Array> {
  const lfh = await readAt(file, e.offset, 30);
  const lv = new DataView(lfh.buffer);
  if (lv.getUint32(0, true) !== LFH_SIG) {
    throw new DatasetError(`Cannot unpack entry "${e.name}": bad local header`, e.name);
  }
  const start = e.offset + 30 + lv.getUint16(26, true) + lv.getUint16(28, true);
  const compressed = fileSlice(file, start, e.compressed);
  const stream: ReadableStream<Uint8Array> = e.method === 8
    ? compressed.pipeThrough(new DecompressionStream("deflate-raw"))
    : compressed;
  let total = 0;
  let crc = 0xffffffff;
  for await (const chunk of stream) {
    total += chunk.length;
    if (total > e.size) {
      throw new DatasetError(
        `Cannot unpack entry "${e.name}": inflates past its declared ${e.size} bytes`,
        e.name,
      );
    }
    crc = crc32Update(crc, chunk);
    yield chunk;
  }
  if (total !== e.size || ((crc ^ 0xffffffff) >>> 0) !== e.crc) {
    throw new DatasetError(
      `Cannot unpack entry "${e.name}": size or CRC-32 does not match the directory`,
      e.name,
    );
  }
}

/** The compressed bytes, read from disk as the inflater asks for them (never a whole entry in memory). */
function fileSlice(
  file: Deno.FsFile,
  start: number,
  length: number,
): ReadableStream<Uint8Array<ArrayBuffer>> {
  let pos = start;
  const end = start + length;
  return new ReadableStream({
    async pull(ctrl) {
      if (pos >= end) return ctrl.close();
      const n = Math.min(64 * 1024, end - pos);
      try {
        ctrl.enqueue(await readAt(file, pos, n));
        pos += n;
      } catch (e) {
        ctrl.error(e);
      }
    },
  });
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32Update(crc: number, bytes: Uint8Array): number {
  let c = crc;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return c >>> 0;
}
