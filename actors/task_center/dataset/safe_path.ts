/**
 * Turns an archive entry name into a path inside the destination, or refuses it. Names are
 * untrusted: absolute paths, drive letters, backslashes, `..` segments and control characters are
 * refused rather than "cleaned", because a cleaned name can still collide with or shadow another.
 */
import { DatasetError } from "./limits.ts";

/** Junk that archivers add; skipped, never written. */
const IGNORED = [/^__MACOSX(\/|$)/, /(^|\/)\.DS_Store$/, /(^|\/)Thumbs\.db$/];

export function isIgnored(rel: string): boolean {
  return IGNORED.some((re) => re.test(rel));
}

/** The entry's relative path (forward slashes, no trailing slash), checked. */
export function safeRelativePath(name: string, maxLength: number): string {
  const refuse = (why: string) => new DatasetError(`Cannot unpack entry "${printable(name)}": ${why}`, name);
  if (name.length === 0) throw refuse("empty name");
  if (name.length > maxLength) throw refuse(`name longer than ${maxLength} characters`);
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) throw refuse("control characters in the name");
  if (name.includes("\\")) throw refuse("backslash in the name");
  if (name.startsWith("/") || /^[A-Za-z]:/.test(name)) throw refuse("absolute path");
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.some((p) => p === "..")) throw refuse("path traversal ('..')");
  if (parts.length === 0) throw refuse("names the archive root");
  return parts.join("/");
}

function printable(name: string): string {
  // deno-lint-ignore no-control-regex
  return name.replace(/[\u0000-\u001f\u007f]/g, "?").slice(0, 300);
}
