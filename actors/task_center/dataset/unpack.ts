/**
 * Recognises a downloaded file by its first bytes (never by its name, which the sender chose) and
 * unpacks it into a destination folder: tar, tar.gz, zip, a single gzipped file, or a plain file
 * copied as is. gzip and deflate come from the platform's DecompressionStream; the tar and zip
 * readers are ours (see tar.ts for why). Every path goes through the same Extractor and Budget.
 */
import { ByteReader } from "./bytes.ts";
import { Extractor } from "./extractor.ts";
import { Budget, DatasetError, type UnpackLimits } from "./limits.ts";
import { extractTar, isTarHeader } from "./tar.ts";
import { extractZip } from "./zip.ts";

export type ArchiveKind = "tar" | "tar.gz" | "zip" | "gzip" | "plain";

const UNSUPPORTED: [number[], string][] = [
  [[0x42, 0x5a, 0x68], "bzip2"],
  [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], "xz"],
  [[0x28, 0xb5, 0x2f, 0xfd], "zstd"],
  [[0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c], "7z"],
  [[0x52, 0x61, 0x72, 0x21], "rar"],
];

const startsWith = (b: Uint8Array, sig: number[]) => sig.every((x, i) => b[i] === x);

/**
 * Unpacks `src` into `dest` (which must exist and be empty). `fileName` names a non-archive
 * download. Throws DatasetError naming the refused entry.
 */
export async function unpack(
  src: string,
  dest: string,
  fileName: string,
  limits: UnpackLimits,
): Promise<ArchiveKind> {
  const size = (await Deno.stat(src)).size;
  const out = new Extractor(dest, new Budget(limits, size));
  const head = await readHead(src, 512);
  for (const [sig, name] of UNSUPPORTED) {
    if (startsWith(head, sig)) {
      throw new DatasetError(`Cannot unpack "${fileName}": ${name} archives are not supported`);
    }
  }
  if (startsWith(head, [0x50, 0x4b, 0x03, 0x04]) || startsWith(head, [0x50, 0x4b, 0x05, 0x06])) {
    await extractZip(src, out);
    return "zip";
  }
  const file = await Deno.open(src, { read: true });
  const gz = startsWith(head, [0x1f, 0x8b]);
  const reader = new ByteReader(
    gz ? file.readable.pipeThrough(new DecompressionStream("gzip")) : file.readable,
  );
  try {
    const first = await reader.peek(512);
    if (isTarHeader(first)) {
      await extractTar(reader, out);
      return gz ? "tar.gz" : "tar";
    }
    const name = gz ? fileName.replace(/\.gz$/i, "") || "data" : fileName;
    await out.file(name, reader.rest(), null);
    return gz ? "gzip" : "plain";
  } finally {
    await reader.cancel();
  }
}

async function readHead(path: string, n: number): Promise<Uint8Array> {
  using f = await Deno.open(path, { read: true });
  const buf = new Uint8Array(n);
  const got = (await f.read(buf)) ?? 0;
  return buf.subarray(0, got);
}
