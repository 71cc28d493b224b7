/**
 * A small tar reader (ustar, pax and GNU long names) that hands regular files and directories to an
 * Extractor and refuses everything else. Written here rather than taken from npm because the
 * safety rules need every entry type seen before anything is written, and the readers we looked at
 * (tar-stream, @std/tar's UntarStream) pass links through for the caller to police anyway.
 */
import type { ByteReader } from "./bytes.ts";
import { DatasetError } from "./limits.ts";
import type { Extractor } from "./extractor.ts";

const BLOCK = 512;
const decoder = new TextDecoder();

export function isTarHeader(block: Uint8Array): boolean {
  return block.length >= 263 && decoder.decode(block.subarray(257, 262)) === "ustar";
}

/** Reads the whole archive into `out`; throws DatasetError naming the first refused entry. */
export async function extractTar(reader: ByteReader, out: Extractor): Promise<void> {
  let longName: string | null = null;
  let pax: Record<string, string> = {};
  for (;;) {
    const header = await reader.read(BLOCK, "tar header");
    if (header === null || header.every((b) => b === 0)) return; // end-of-archive marker
    checkChecksum(header);
    const type = String.fromCharCode(header[156] || 48);
    const size = pax.size !== undefined ? Number(pax.size) : parseSize(header.subarray(124, 136));
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    const name = pax.path ?? longName ?? headerName(header);
    if (type === "x" || type === "g" || type === "L" || type === "K") {
      const data = await readSmall(reader, size, padded, name);
      if (type === "x") pax = parsePax(data);
      if (type === "L") longName = decoder.decode(data).replace(/\0+$/, "");
      continue; // 'g' (global pax) carries nothing we use; 'K' names a link target, refused below
    }
    const linkName = pax.linkpath ?? cString(header.subarray(157, 257));
    longName = null;
    pax = {};
    if (type === "0" || type === "7") {
      await out.file(name, reader.chunks(size, `tar entry "${name}"`), size);
      await reader.skip(padded - size, "tar padding");
    } else if (type === "5") {
      await out.dir(name);
      await reader.skip(padded, "tar padding");
    } else if (type === "1") {
      throw out.refuse(name, `hard link to "${linkName}" (links are not allowed)`);
    } else if (type === "2") {
      throw out.refuse(name, `symbolic link to "${linkName}" (links are not allowed)`);
    } else {
      throw out.refuse(name, `unsupported tar entry type '${type}' (only files and folders are allowed)`);
    }
  }
}

async function readSmall(reader: ByteReader, size: number, padded: number, name: string) {
  if (size > 1024 * 1024) {
    throw new DatasetError(`Cannot unpack entry "${name}": oversized tar metadata`, name);
  }
  const data = (await reader.read(padded, "tar metadata")) ?? new Uint8Array(0);
  return data.subarray(0, size);
}

function headerName(h: Uint8Array): string {
  const name = cString(h.subarray(0, 100));
  const prefix = isTarHeader(h) ? cString(h.subarray(345, 500)) : "";
  return prefix ? `${prefix}/${name}` : name;
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** Octal, or GNU base-256 when the high bit is set (sizes past 8 GiB). */
function parseSize(field: Uint8Array): number {
  if (field[0] & 0x80) {
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i];
    return n;
  }
  const text = cString(field).trim();
  if (!/^[0-7]*$/.test(text)) throw new DatasetError(`Cannot read tar header: size "${text}" is not octal`);
  return text === "" ? 0 : parseInt(text, 8);
}

function checkChecksum(h: Uint8Array): void {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  const stored = parseInt(cString(h.subarray(148, 156)).trim(), 8);
  if (stored !== sum) {
    throw new DatasetError("Cannot read tar header: checksum mismatch (corrupt or not a tar)");
  }
}

/** Pax records: "<len> <key>=<value>\n", len counting the whole record. */
function parsePax(data: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(32, at);
    if (space < 0) break;
    const len = parseInt(decoder.decode(data.subarray(at, space)), 10);
    if (!(len > 0)) break;
    const record = decoder.decode(data.subarray(space + 1, at + len - 1));
    const eq = record.indexOf("=");
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += len;
  }
  return out;
}
