/**
 * Response bodies and headers of the local Hub (tests/hub_server.ts), shaped as `@huggingface/hub`
 * 2.17.5 reads them: the whoami-v2 user with its mandatory `auth`, LFS batch objects (basic and
 * multipart), paged commit lists, and resolve answers carrying what `fileDownloadInfo` needs.
 * Errors are JSON `{"error": …}`, which the client turns into a HubApiError message.
 */
import { hash, HttpError, type HubCommit, type HubEntry } from "./hub_server_store.ts";

export type Account = { user: string; role: "write" | "read"; orgs: string[] };

/** An injected answer; `afterApply`: the request takes effect first (a response lost on the way back). */
export type Fault = {
  status: number;
  times?: number;
  retryAfterS?: number;
  afterApply?: boolean;
  message?: string;
};

export const HUB_ROUTES = [
  ...[
    "whoami",
    "create",
    "delete",
    "info",
    "preupload",
    "batch",
    "lfsPut",
    "lfsPart",
    "lfsComplete",
  ] as const,
  ...["commit", "tree", "commits", "resolve"] as const,
];
export type HubRoute = typeof HUB_ROUTES[number];

export type HubRequest = {
  id: string;
  method: string;
  route: HubRoute | "unknown";
  path: string;
  status: number;
  /** Whether an Authorization header came with it (LFS upload URLs must get none). */
  auth: boolean;
};

export interface HubOptions {
  user?: string;
  token?: string;
  orgs?: string[];
  /** Files at least this big are LFS (besides .gitattributes and binary samples); the Hub uses ~10 MB. */
  lfsThreshold?: number;
  /** LFS objects at least this big get multipart upload URLs of `chunkSize` bytes. */
  multipartThreshold?: number;
  chunkSize?: number;
}

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

export function errorResponse(e: unknown): Response {
  if (e instanceof HttpError) {
    return json({ error: e.message }, e.status, e.code ? { "X-Error-Code": e.code } : {});
  }
  const f = e as Fault;
  if (typeof f?.status === "number") {
    const headers: Record<string, string> = f.retryAfterS === undefined
      ? {}
      : { "Retry-After": String(f.retryAfterS) };
    return json({ error: f.message ?? `Injected ${f.status}` }, f.status, headers);
  }
  return json({ error: `Internal error: ${(e as Error)?.message}` }, 500);
}

/** The client reads `auth.accessToken.createdAt` and crashes when `auth` is missing. */
export function whoamiBody(a: Account): unknown {
  const id = (name: string) => hash("sha1", name).slice(0, 24);
  const orgs = a.orgs.map((name) => ({ type: "org", id: id(name), name, fullname: name }));
  const accessToken = { displayName: "local", role: a.role, createdAt: "2025-01-01T00:00:00.000Z" };
  return {
    ...{ type: "user", id: id(a.user), name: a.user, fullname: a.user, email: `${a.user}@example.com` },
    ...{
      emailVerified: true,
      isPro: false,
      canPay: false,
      avatarUrl: "",
      periodEnd: null,
      billingMode: "prepaid",
    },
    orgs,
    auth: { type: "access_token", accessToken },
  };
}

/**
 * One batch object: none of `actions` when stored (the client skips it), a basic PUT URL, or, from
 * `multipart` bytes, part URLs under numeric header keys with `chunk_size` and a completion href.
 */
export function batchObject(
  origin: string,
  obj: { oid: string; size: number },
  stored: boolean,
  limits: { multipart: number; chunk: number },
): unknown {
  const { oid, size } = obj;
  if (stored) return { oid, size };
  const href = `${origin}/__lfs/${oid}`;
  if (size < limits.multipart) return { oid, size, authenticated: true, actions: { upload: { href } } };
  const header: Record<string, string> = { chunk_size: String(limits.chunk) };
  for (let i = 1; i <= Math.ceil(size / limits.chunk); i++) {
    header[String(i).padStart(5, "0")] = `${href}/part/${i}`;
  }
  return { oid, size, authenticated: true, actions: { upload: { href: `${href}/complete`, header } } };
}

/** A page of `limit` commits from index `from`, with `Link: rel="next"` while more remain. */
export function commitPage(url: URL, commits: HubCommit[], from: number, user: string): Response {
  const limit = Number(url.searchParams.get("limit") ?? 50);
  const page = Number(url.searchParams.get("p") ?? 0);
  const start = from + page * limit;
  const list = commits.slice(start, start + limit);
  const next = new URL(url);
  next.searchParams.set("p", String(page + 1));
  const link = start + limit < commits.length ? { Link: `<${next}>; rel="next"` } : undefined;
  const authors = [{ user, avatar: "" }];
  return json(list.map(({ id, title, message, date }) => ({ id, title, message, date, authors })), 200, link);
}

/**
 * A file at a commit. `fileDownloadInfo` probes with `Range: bytes=0-0` and needs Content-Range and
 * an ETag; LFS files also carry X-Linked-Size/-ETag. `raw` serves an LFS file's pointer.
 */
export function fileResponse(
  req: Request,
  commit: HubCommit,
  e: HubEntry,
  bytes: Uint8Array,
  raw: boolean,
): Response {
  const lfs = e.lfs && !raw ? e.lfs : undefined;
  const headers: Record<string, string> = {
    "Accept-Ranges": "bytes",
    "Content-Type": "application/octet-stream",
    ETag: `"${lfs?.oid ?? e.oid}"`,
    "X-Repo-Commit": commit.id,
    ...(lfs && { "X-Linked-Size": String(lfs.size), "X-Linked-ETag": `"${lfs.oid}"` }),
  };
  const range = req.headers.get("range")?.match(/^bytes=(\d+)-(\d*)$/);
  const last = bytes.length - 1;
  const [start, end] = range
    ? [Number(range[1]), Math.min(range[2] ? Number(range[2]) : last, last)]
    : [0, last];
  if (range && start > last && bytes.length > 0) {
    return new Response(null, { status: 416, headers: { "Content-Range": `bytes */${bytes.length}` } });
  }
  if (range) headers["Content-Range"] = `bytes ${start}-${end}/${bytes.length}`;
  // A HEAD says how long the GET would be: huggingface_hub reads a regular file's size from it.
  headers["Content-Length"] = String(end - start + 1);
  const body = req.method === "HEAD" ? null : bytes.slice(start, end + 1);
  return new Response(body, { status: range ? 206 : 200, headers });
}
