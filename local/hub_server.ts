/**
 * A local stand-in for the Hugging Face Hub, speaking the wire protocol `@huggingface/hub` 2.17.5 uses
 * (shared/reference/hf-hub-upload.md): whoami-v2, repos/create|delete, model info, preupload, the LFS
 * batch API with basic and multipart uploads to URLs it serves itself, NDJSON commits, tree, commits and
 * resolve; and what `huggingface_hub` (Python) downloads with: model info at a revision with files
 * metadata, HEAD and range requests on resolve; token roles and gated repos (hub_server_access.ts).
 * Storage is local/hub_server_store.ts (objects on disk). Tests inject faults per route and read
 * `requests`, so retries and idempotency are checked against the real client, not a mock of it.
 */
import { HubAccess } from "./hub_server_access.ts";
import { type CommitOp, hash, HttpError, type HubCommit, HubStore, type Repo } from "./hub_server_store.ts";
import {
  type Account,
  batchObject,
  commitPage,
  errorResponse,
  type Fault,
  fileResponse,
  type HubOptions,
  type HubRequest,
  type HubRoute,
  json,
  whoamiBody,
} from "./hub_server_wire.ts";

export { gitBlobOid, type HubCommit, type HubEntry } from "./hub_server_store.ts";
export {
  type Account,
  type Fault,
  HUB_ROUTES,
  type HubOptions,
  type HubRequest,
  type HubRoute,
} from "./hub_server_wire.ts";

type PreuploadBody = { files: { path: string; size: number; sample: string }[]; gitAttributes?: string };
type Ctx = { req: Request; url: URL; acct: Account | null | undefined; m: string[] };
type Handler = (c: Ctx) => Promise<Response> | Response;

const REPO = "([\\w.-]+/[\\w.-]+)";

export class LocalHub {
  readonly token: string;
  readonly user: string;
  readonly requests: HubRequest[] = [];
  readonly store: HubStore;
  /** Gated repos and the download throttle. */
  readonly access = new HubAccess();
  #accounts = new Map<string, Account>();
  #faults = new Map<HubRoute, Fault[]>();
  #limits: { lfs: number; multipart: number; chunk: number };
  #seq = 0;
  #routes: [string, RegExp, HubRoute, Handler][] = [
    ["GET", /^\/api\/whoami-v2$/, "whoami", (c) => this.#whoami(c)],
    ["POST", /^\/api\/repos\/create$/, "create", (c) => this.#create(c)],
    ["DELETE", /^\/api\/repos\/delete$/, "delete", (c) => this.#delete(c)],
    ["GET", new RegExp(`^/api/models/${REPO}(?:/revision/([^/]+))?$`), "info", (c) => this.#info(c)],
    ["POST", new RegExp(`^/api/models/${REPO}/preupload/([^/]+)$`), "preupload", (c) => this.#preupload(c)],
    ["POST", new RegExp(`^/${REPO}\\.git/info/lfs/objects/batch$`), "batch", (c) => this.#batch(c)],
    ["PUT", /^\/__lfs\/([0-9a-f]{64})$/, "lfsPut", (c) => this.#lfsPut(c)],
    ["PUT", /^\/__lfs\/([0-9a-f]{64})\/part\/(\d+)$/, "lfsPart", (c) => this.#lfsPart(c)],
    ["POST", /^\/__lfs\/([0-9a-f]{64})\/complete$/, "lfsComplete", (c) => this.#lfsComplete(c)],
    ["POST", new RegExp(`^/api/models/${REPO}/commit/([^/]+)$`), "commit", (c) => this.#commit(c)],
    ["GET", new RegExp(`^/api/models/${REPO}/tree/([^/]+)(?:/(.*))?$`), "tree", (c) => this.#tree(c)],
    ["GET", new RegExp(`^/api/models/${REPO}/commits/([^/]+)$`), "commits", (c) => this.#commitList(c)],
    ["GET", new RegExp(`^/${REPO}/(resolve|raw)/([^/]+)/(.+)$`), "resolve", (c) => this.#resolve(c)],
  ];

  constructor(dir: string, opts: HubOptions = {}) {
    this.store = new HubStore(dir);
    this.user = opts.user ?? "miner";
    this.token = opts.token ?? "hf_localWriteToken000000000000000000";
    this.#accounts.set(this.token, { user: this.user, role: "write", orgs: opts.orgs ?? [] });
    this.#limits = {
      lfs: opts.lfsThreshold ?? 10 * 1024 * 1024,
      multipart: opts.multipartThreshold ?? 20 * 1024 * 1024,
      chunk: opts.chunkSize ?? 8 * 1024 * 1024,
    };
  }

  /** Another token, e.g. a read-only one for 403 tests. */
  addToken(token: string, acct: Partial<Account> = {}): void {
    this.#accounts.set(token, {
      user: acct.user ?? this.user,
      role: acct.role ?? "write",
      orgs: acct.orgs ?? [],
    });
  }

  /** The next `times` (default 1) requests to `route` get this fault. */
  fail(route: HubRoute, fault: Fault): void {
    this.#faults.set(route, [...(this.#faults.get(route) ?? []), { times: 1, ...fault }]);
  }

  /** A repo's commits, newest first (the creation commit last). */
  commits(repoId: string): HubCommit[] {
    return this.store.repos.get(repoId)?.commits ?? [];
  }

  /** Requests made to `route` so far. */
  count(route: HubRoute): number {
    return this.requests.filter((r) => r.route === route).length;
  }

  /** In-process fetch: the same handler without a socket. */
  readonly fetch = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> =>
    this.handle(new Request(input, init));

  async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const id = `req-${++this.#seq}`;
    const token = req.headers.get("authorization")?.match(/^Bearer (.+)$/)?.[1];
    const acct = token === undefined ? undefined : this.#accounts.get(token) ?? null;
    const ctx: Ctx = { req, url, acct, m: [] };
    const [route, run] = this.#match(ctx);
    let res: Response;
    try {
      const fault = route === "unknown" ? undefined : this.#takeFault(route);
      if (fault && !fault.afterApply) throw fault;
      res = await run();
      if (fault) throw fault;
    } catch (e) {
      res = errorResponse(e);
    }
    res.headers.set("X-Request-Id", id);
    const auth = !!token;
    this.requests.push({ id, method: req.method, route, path: url.pathname, status: res.status, auth });
    return res;
  }

  #match(ctx: Ctx): [HubRoute | "unknown", () => Promise<Response> | Response] {
    const { method } = ctx.req;
    for (const [m, re, route, fn] of this.#routes) {
      const match = ctx.url.pathname.match(re);
      if (match && (method === m || (m === "GET" && method === "HEAD"))) {
        ctx.m = match.slice(1).map((s) => s && decodeURIComponent(s));
        return [route, () => fn(ctx)];
      }
    }
    const error = `Sorry, we can't find the page you are looking for (${method} ${ctx.url.pathname})`;
    return ["unknown", () => json({ error }, 404)];
  }

  #takeFault(route: HubRoute): Fault | undefined {
    const fault = this.#faults.get(route)?.find((f) => (f.times ?? 1) > 0);
    if (fault) fault.times = (fault.times ?? 1) - 1;
    return fault;
  }

  #account(c: Ctx): Account {
    if (!c.acct) throw new HttpError(401, "Invalid credentials in Authorization header");
    return c.acct;
  }

  /** Private repos look missing to outsiders (401 anonymous, 404 signed in), as on the Hub. */
  #repo(c: Ctx, id: string, write = false): Repo {
    const repo = this.store.repos.get(id);
    const ns = id.split("/")[0];
    const member = !!c.acct && (c.acct.user === ns || c.acct.orgs.includes(ns));
    if (!repo || (repo.private && !member)) {
      throw new HttpError(c.acct ? 404 : 401, "Repository not found", "RepoNotFound");
    }
    if (write && (this.#account(c).role === "read" || !member)) {
      throw new HttpError(403, `You don't have write access to "${id}"`);
    }
    return repo;
  }

  #whoami(c: Ctx): Response {
    return json(whoamiBody(this.#account(c)));
  }

  async #create(c: Ctx): Promise<Response> {
    const a = this.#account(c);
    const body = await c.req.json();
    const ns = body.organization ?? a.user;
    const id = `${ns}/${body.name}`;
    if ((body.type ?? "model") !== "model") throw new HttpError(400, "Only model repos are served here");
    if (!/^[\w.-]+$/.test(body.name ?? "")) throw new HttpError(400, `Invalid repo name "${body.name}"`);
    if (a.role === "read" || (a.user !== ns && !a.orgs.includes(ns))) {
      throw new HttpError(403, `You don't have the rights to create a model under the namespace "${ns}"`);
    }
    const url = `${c.url.origin}/${id}`;
    if (this.store.repos.has(id)) return json({ error: "You already created this model repo", url }, 409);
    await this.store.create(id, body.visibility === "private" || body.private === true);
    return json({ url, name: id, id: hash("sha1", id).slice(0, 24) });
  }

  async #delete(c: Ctx): Promise<Response> {
    const body = await c.req.json();
    const id = `${body.organization}/${body.name}`;
    this.#repo(c, id, true);
    this.store.repos.delete(id);
    return json({});
  }

  #info(c: Ctx): Response {
    const repo = this.#repo(c, c.m[0]);
    const head = this.store.revision(repo, c.m[1] ?? "main");
    return json(this.access.infoBody(repo, head, c.url.searchParams.get("blobs") === "true"));
  }

  async #preupload(c: Ctx): Promise<Response> {
    const repo = this.#repo(c, c.m[0], true);
    const head = this.store.revision(repo, c.m[1]);
    const body: PreuploadBody = await c.req.json();
    const attrs = body.gitAttributes ?? await this.store.text(head.files, ".gitattributes");
    const files = body.files.map(({ path, size, sample }) => {
      const uploadMode = this.store.uploadMode(attrs, path, size, sample, this.#limits.lfs);
      return { path, uploadMode, shouldIgnore: false };
    });
    return json({ files });
  }

  async #batch(c: Ctx): Promise<Response> {
    this.#repo(c, c.m[0], true);
    const body: { operation: string; objects: { oid: string; size: number }[] } = await c.req.json();
    if (body.operation !== "upload") throw new HttpError(400, "Only uploads are served here");
    const answer = async (o: { oid: string; size: number }) =>
      batchObject(c.url.origin, o, await this.store.hasLfs(o.oid), this.#limits);
    const objects = await Promise.all(body.objects.map(answer));
    return json({ transfer: "basic", objects }, 200, { "Content-Type": "application/vnd.git-lfs+json" });
  }

  async #lfsPut(c: Ctx): Promise<Response> {
    await this.store.storeLfs(c.m[0], new Uint8Array(await c.req.arrayBuffer()));
    return new Response(null, { status: 200 });
  }

  async #lfsPart(c: Ctx): Promise<Response> {
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    const etag = await this.store.storePart(c.m[0], Number(c.m[1]), bytes);
    return new Response(null, { status: 200, headers: { ETag: etag } });
  }

  async #lfsComplete(c: Ctx): Promise<Response> {
    const body: { oid: string; parts: { partNumber: number; etag: string }[] } = await c.req.json();
    if (body.oid !== c.m[0]) throw new HttpError(400, "oid mismatch");
    await this.store.completeMultipart(c.m[0], body.parts);
    return json({});
  }

  async #commit(c: Ctx): Promise<Response> {
    const repo = this.#repo(c, c.m[0], true);
    const head = this.store.revision(repo, c.m[1]);
    const lines = (await c.req.text()).split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
    const [first, ...ops] = lines as CommitOp[];
    if (first?.key !== "header" || typeof first.value?.summary !== "string") {
      throw new HttpError(400, "The first line must be the commit header with a summary");
    }
    const commit = await this.store.commit(repo, head, first.value, ops);
    const commitUrl = `${c.url.origin}/${repo.id}/commit/${commit.id}`;
    return json({ success: true, commitOid: commit.id, commitUrl });
  }

  #tree(c: Ctx): Response {
    const repo = this.#repo(c, c.m[0]);
    this.access.checkFiles(repo.id, c.acct);
    const commit = this.store.revision(repo, c.m[1]);
    const prefix = c.m[2] ? `${c.m[2].replace(/\/$/, "")}/` : "";
    const [recursive, expand] = ["recursive", "expand"].map((k) => c.url.searchParams.get(k) === "true");
    return json(this.store.tree(repo, commit, prefix, recursive, expand));
  }

  #commitList(c: Ctx): Response {
    const repo = this.#repo(c, c.m[0]);
    const from = repo.commits.indexOf(this.store.revision(repo, c.m[1]));
    return commitPage(c.url, repo.commits, from, this.user);
  }

  async #resolve(c: Ctx): Promise<Response> {
    const repo = this.#repo(c, c.m[0]);
    this.access.checkFiles(repo.id, c.acct);
    const commit = this.store.revision(repo, c.m[2]);
    const e = commit.files.get(c.m[3]);
    if (!e) throw new HttpError(404, "Entry not found", "EntryNotFound");
    const raw = c.m[1] === "raw";
    const bytes = this.access.served(repo.id, c.m[3], await this.store.read(e, raw));
    return this.access.throttled(fileResponse(c.req, commit, e, bytes, raw));
  }
}

export interface HubServer extends AsyncDisposable {
  hub: LocalHub;
  /** `hubUrl` for the client: `http://127.0.0.1:<port>`, no trailing slash. */
  url: string;
  close(): Promise<void>;
}

/** Serves a fresh LocalHub on 127.0.0.1 (an ephemeral port), its objects in a new temp dir. */
export async function startHubServer(opts: HubOptions = {}): Promise<HubServer> {
  const dir = await Deno.makeTempDir({ prefix: "local-hub-" });
  const hub = new LocalHub(dir, opts);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => hub.handle(req));
  const close = async () => {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  return { hub, url: `http://127.0.0.1:${server.addr.port}`, close, [Symbol.asyncDispose]: close };
}
