/**
 * Limits on what a dataset may unpack to, and the running budget that enforces them while bytes
 * stream in. Archives lie about their sizes, so every check runs on the bytes actually written,
 * not on what a header declares; declared sizes only let an oversized entry be refused early.
 */

export interface UnpackLimits {
  /** Files an archive may hold. */
  maxFiles: number;
  /** Bytes all unpacked files may add up to. */
  maxTotalBytes: number;
  /** Unpacked bytes per archive byte above which the archive is taken for a bomb. */
  maxRatio: number;
  /** Below this many unpacked bytes the ratio is not checked (tiny, repetitive files compress well). */
  ratioFloorBytes: number;
  /** Longest entry path accepted, in characters. */
  maxPathLength: number;
}

export const DEFAULT_LIMITS: UnpackLimits = {
  maxFiles: 100_000,
  maxTotalBytes: 50 * 1024 ** 3,
  maxRatio: 200,
  ratioFloorBytes: 64 * 1024 ** 2,
  maxPathLength: 1024,
};

/** Thrown for any dataset we refuse; the message names the entry and is the task's failure reason. */
export class DatasetError extends Error {
  override name = "DatasetError";
  constructor(message: string, readonly entry: string | null = null, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Counts files and bytes against the limits; `archiveBytes` is the compressed size on disk. */
export class Budget {
  files = 0;
  bytes = 0;
  constructor(readonly limits: UnpackLimits, readonly archiveBytes: number) {}

  addFile(entry: string): void {
    this.files++;
    if (this.files > this.limits.maxFiles) {
      throw new DatasetError(
        `Cannot unpack entry "${entry}": archive has more than ${this.limits.maxFiles} files`,
        entry,
      );
    }
  }

  addBytes(entry: string, n: number): void {
    this.bytes += n;
    if (this.bytes > this.limits.maxTotalBytes) {
      throw new DatasetError(
        `Cannot unpack entry "${entry}": unpacked size passes the limit of ${this.limits.maxTotalBytes} bytes`,
        entry,
      );
    }
    const ratio = this.bytes / Math.max(1, this.archiveBytes);
    if (this.bytes > this.limits.ratioFloorBytes && ratio > this.limits.maxRatio) {
      throw new DatasetError(
        `Cannot unpack entry "${entry}": expands more than ${this.limits.maxRatio}x the archive ` +
          `(${this.bytes} bytes from ${this.archiveBytes}); refused as a decompression bomb`,
        entry,
      );
    }
  }
}
