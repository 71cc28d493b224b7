/**
 * Where archive readers write: regular files and folders under one destination, never anything
 * else. Links are never created, so no parent folder can point outside the destination, and files
 * are opened with `createNew`, so a repeated entry cannot overwrite an earlier one.
 */
import { dirname, join } from "node:path";
import { type Budget, DatasetError } from "./limits.ts";
import { isIgnored, safeRelativePath } from "./safe_path.ts";

export class Extractor {
  constructor(readonly dest: string, readonly budget: Budget) {}

  refuse(name: string, why: string): DatasetError {
    return new DatasetError(`Cannot unpack entry "${name}": ${why}`, name);
  }

  async dir(name: string): Promise<void> {
    const rel = safeRelativePath(name, this.budget.limits.maxPathLength);
    if (!isIgnored(rel)) await Deno.mkdir(join(this.dest, rel), { recursive: true });
  }

  /**
   * Streams one file to disk, counting bytes against the budget as they arrive; `declared` (the
   * size the archive claims) refuses an oversized entry before any byte is written.
   */
  async file(name: string, data: AsyncIterable<Uint8Array>, declared: number | null): Promise<void> {
    const rel = safeRelativePath(name, this.budget.limits.maxPathLength);
    if (isIgnored(rel)) {
      for await (const _ of data) { /* drain */ }
      return;
    }
    this.budget.addFile(name);
    if (declared !== null && this.budget.bytes + declared > this.budget.limits.maxTotalBytes) {
      throw this.refuse(
        name,
        `declares ${declared} bytes, past the limit of ${this.budget.limits.maxTotalBytes}`,
      );
    }
    const path = join(this.dest, rel);
    await Deno.mkdir(dirname(path), { recursive: true });
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { write: true, createNew: true });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) throw this.refuse(name, "appears twice in the archive");
      throw e;
    }
    try {
      for await (const chunk of data) {
        this.budget.addBytes(name, chunk.length);
        let off = 0;
        while (off < chunk.length) off += await file.write(chunk.subarray(off));
      }
    } finally {
      file.close();
    }
  }
}
