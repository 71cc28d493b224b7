/**
 * What one upload commits: the trainer's artifacts (rechecked against the sha256 and size the `done`
 * event reported, so the result we submit describes exactly what is on the Hub), sample images, and
 * the generated README.md. Each file also gets its git blob id, because the Hub's tree API reports that
 * for regular files and the LFS sha256 only for LFS ones; with both, an existing repo can be compared.
 */
import { createHash } from "node:crypto";
import { pathToFileURL } from "node:url";
import type { Task } from "../../core/task.ts";
import type { DoneEvent } from "../../core/training.ts";
import { renderModelCard } from "./model_card.ts";

export type PlannedFile = {
  path: string;
  /** A file: URL (read lazily by the client) or the bytes of a generated file. */
  content: URL | Blob;
  sha256: string;
  /** `git hash-object` of the content: the tree API's `oid` for a regular (non-LFS) file. */
  gitOid: string;
  bytes: number;
};

export type Plan = { ok: true; files: PlannedFile[] } | { ok: false; message: string };

export const CARD_PATH = "README.md";

/** Hashes a file in one streaming pass: sha256 and the git blob id. */
export async function hashFile(path: string): Promise<{ sha256: string; gitOid: string; bytes: number }> {
  const { size } = await Deno.stat(path);
  const sha256 = createHash("sha256");
  const git = createHash("sha1").update(`blob ${size}\0`);
  using file = await Deno.open(path);
  for await (const chunk of file.readable) {
    sha256.update(chunk);
    git.update(chunk);
  }
  return { sha256: sha256.digest("hex"), gitOid: git.digest("hex"), bytes: size };
}

export function hashBytes(bytes: Uint8Array): { sha256: string; gitOid: string; bytes: number } {
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const gitOid = createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
  return { sha256, gitOid, bytes: bytes.length };
}

/** A path the trainer reported must stay inside its out dir: relative, no `..`, no backslashes. */
export function isSafeRelativePath(path: string): boolean {
  return path.length > 0 && !path.startsWith("/") && !path.includes("\\") &&
    path.split("/").every((seg) => seg !== "" && seg !== "." && seg !== "..");
}

/** Builds the file list for `task`, or says which local file is missing or differs from the report. */
export async function planUpload(
  input: { task: Task; done: DoneEvent; outDir: string; repoId: string },
): Promise<Plan> {
  const { task, done, outDir } = input;
  const id = task.request.id;
  const expected = new Map(done.artifacts.map((a) => [a.path, a]));
  const paths = [...new Set([...expected.keys(), ...done.quality.samples])].filter((p) => p !== CARD_PATH);
  const files: PlannedFile[] = [];
  for (const path of paths) {
    if (!isSafeRelativePath(path)) {
      return { ok: false, message: `Cannot upload task "${id}": unsafe artifact path "${path}"` };
    }
    const local = `${outDir}/${path}`;
    const stat = await Deno.lstat(local).catch(() => null);
    if (!stat?.isFile) {
      return {
        ok: false,
        message: `Cannot upload task "${id}": artifact "${path}" is not a regular file in "${outDir}"`,
      };
    }
    const h = await hashFile(local);
    const want = expected.get(path);
    if (want && (want.sha256 !== h.sha256 || want.bytes !== h.bytes)) {
      const message = `Cannot upload task "${id}": artifact "${path}" changed since training ` +
        `(sha256 ${h.sha256}, ${h.bytes} bytes; expected ${want.sha256}, ${want.bytes} bytes)`;
      return { ok: false, message };
    }
    files.push({ path, content: pathToFileURL(await Deno.realPath(local)), ...h });
  }
  const card = new TextEncoder().encode(renderModelCard(input));
  files.push({ path: CARD_PATH, content: new Blob([card], { type: "text/markdown" }), ...hashBytes(card) });
  return { ok: true, files };
}
