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

/**
 * The reasons a validator may read when its dataset fails: a fixed set, so no status code of an
 * internal service, hash of fetched bytes or local path reaches it. The detail goes to our log.
 */
export const DATASET_FAILURES = [
  "dataset_unreachable",
  "dataset_too_large",
  "dataset_timeout",
  "dataset_forbidden_address",
  "dataset_hash_mismatch",
  "dataset_invalid",
] as const;
export type DatasetFailure = (typeof DATASET_FAILURES)[number];

export interface DatasetErrorOptions extends ErrorOptions {
  /** Set by the fetcher: the validator reads only this code. Unset: an archive check, see `reason`. */
  code?: DatasetFailure;
  /** A failure that may pass (connection refused, 5xx): the fetch is tried again before giving up. */
  retryable?: boolean;
}

/** Thrown for any dataset we refuse; the message is the full detail, for our log. */
export class DatasetError extends Error {
  override name = "DatasetError";
  readonly code: DatasetFailure;
  readonly retryable: boolean;
  /**
   * What the validator reads. Archive checks (no `code`) describe only the bytes the validator
   * sent, such as the entry name that tried to escape, so their message goes back with the code.
   */
  readonly reason: string;
  constructor(message: string, readonly entry: string | null = null, options: DatasetErrorOptions = {}) {
    super(message, options);
    this.code = options.code ?? "dataset_invalid";
    this.retryable = options.retryable ?? false;
    this.reason = options.code ? options.code : `dataset_invalid: ${message}`;
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
