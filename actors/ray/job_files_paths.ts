/**
 * The pure half of the job files server: which route a request path names, the relative file path
 * inside it (percent-decoded segment by segment, then held to "a plain relative path"), and the
 * path as it may be logged, with the token cut out.
 */

export type JobRoute =
  | { kind: "task" }
  | { kind: "manifest" }
  | { kind: "dataset"; rawPath: string }
  | { kind: "out"; rawPath: string }
  | { kind: "unknown" };

/** `/v1/<token>/<rest>` split in two, or null for any other path. */
export function splitJobPath(pathname: string): { token: string; rest: string } | null {
  const m = /^\/v1\/([^/]+)\/(.*)$/.exec(pathname);
  return m ? { token: m[1], rest: m[2] } : null;
}

export function routeOf(rest: string): JobRoute {
  if (rest === "task.json") return { kind: "task" };
  if (rest === "manifest.json") return { kind: "manifest" };
  if (rest.startsWith("dataset/")) return { kind: "dataset", rawPath: rest.slice("dataset/".length) };
  if (rest.startsWith("out/")) return { kind: "out", rawPath: rest.slice("out/".length) };
  return { kind: "unknown" };
}

/** Longer paths are refused: nothing a trainer writes or a dataset holds needs more. */
export const MAX_PATH_CHARS = 1_024;

/**
 * The relative path a URL tail names, or the problem with it. The URL parser has already folded
 * literal and `%2e` dot segments, so what reaches here as `..` came percent-encoded inside a segment
 * (`a%2F..%2Fb`) and is refused like any other.
 */
export function decodeRelativePath(
  rawPath: string,
): { ok: true; path: string } | { ok: false; problem: string } {
  let path: string;
  try {
    path = rawPath.split("/").map(decodeURIComponent).join("/");
  } catch {
    return { ok: false, problem: "it is not valid percent-encoding" };
  }
  const problem = relativePathProblem(path);
  return problem === null ? { ok: true, path } : { ok: false, problem };
}

/** Why `path` is not a plain relative path with forward slashes, or null when it is one. */
export function relativePathProblem(path: string): string | null {
  if (path === "") return "it is empty";
  if (path.length > MAX_PATH_CHARS) return `it is longer than ${MAX_PATH_CHARS} characters`;
  if (path.includes("\0")) return "it contains a NUL byte";
  if (path.includes("\\")) return "it contains a backslash";
  if (path.startsWith("/")) return "it is absolute";
  for (const segment of path.split("/")) {
    if (segment === "") return "it has an empty segment";
    if (segment === "." || segment === "..") return `it has a "${segment}" segment`;
  }
  return null;
}

/**
 * The request path as a log line or an error may show it: the token segment replaced, and the token
 * cut from the rest too (a client that joined a base URL twice repeats it there). A path outside
 * `/v1/<token>/` is not shown at all: where its token sits is anyone's guess.
 */
export function redactedPath(pathname: string, maxChars = 200): string {
  const split = splitJobPath(pathname);
  if (!split) return pathname === "/" ? "/" : "<unrouted path>";
  const rest = split.rest.replaceAll(split.token, "<redacted>");
  const shown = rest.length > maxChars ? `${rest.slice(0, maxChars)}…` : rest;
  return `/v1/<redacted>/${shown}`;
}
