/**
 * The Hub repo a task's adapter goes to: `{namespace}/satori-{type}-lora-{task id}`. Deterministic, so a
 * re-run after a crash finds the same repo; always a valid Hub name (letters, digits, `-`, `_`, `.`, no
 * `--` or `..`, no leading or trailing `-`/`.`, at most 96 characters). When the id had to be altered or
 * cut to fit, a short hash of the full id is appended so two tasks never share a repo.
 */
import { createHash } from "node:crypto";

/** The Hub's limit on the name part of a repo id. */
export const MAX_REPO_NAME = 96;
const HASH_CHARS = 8;

/** Whether `name` is a valid name part of a Hub repo id. */
export function isValidRepoName(name: string): boolean {
  return name.length >= 1 && name.length <= MAX_REPO_NAME && /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) &&
    !/[-.]$/.test(name) && !/--|\.\./.test(name) && !name.endsWith(".git");
}

/** Collapses what the Hub refuses: other characters become `-`, runs of `-`/`.` shrink, ends are trimmed. */
function clean(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/[-.]{2,}/g, (run) => run[0])
    .replace(/^[-._]+|[-._]+$/g, "").replace(/\.git$/i, "-git");
}

/** The name part for a task of `type` with `taskId`. */
export function repoNameFor(type: "text" | "image", taskId: string): string {
  const prefix = `satori-${type}-lora-`;
  const id = clean(taskId);
  const plain = `${prefix}${id}`;
  if (id === taskId && plain.length <= MAX_REPO_NAME && isValidRepoName(plain)) return plain;
  const tag = createHash("sha256").update(taskId).digest("hex").slice(0, HASH_CHARS);
  const room = MAX_REPO_NAME - prefix.length - HASH_CHARS - 1;
  const head = clean(id.slice(0, room)) || "task";
  return `${prefix}${head}-${tag}`;
}

/** `namespace/name` for a task; the namespace is the configured user or organisation. */
export function repoIdFor(namespace: string, type: "text" | "image", taskId: string): string {
  return `${namespace}/${repoNameFor(type, taskId)}`;
}
