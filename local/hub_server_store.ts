/**
 * The storage side of the local Hub (tests/hub_server.ts): repos as lists of commits, each a full
 * path → entry map, with regular blobs and LFS objects as files on disk. It follows the git and LFS
 * rules the real Hub exposes through its API (git blob ids, LFS pointers, .gitattributes extended for
 * LFS paths, 412 on a stale parent, README metadata checked), so what the client sees matches the Hub.
 */
import { createHash } from "node:crypto";
import { Buffer } from "node:buffer";
import { parse as parseYaml } from "yaml";

export type HubEntry = {
  size: number;
  /** Git blob id of the file, or of its LFS pointer. */
  oid: string;
  lfs?: { oid: string; size: number; pointerSize: number };
  lastCommit: string;
};
export type HubCommit = {
  id: string;
  title: string;
  message: string;
  date: string;
  files: Map<string, HubEntry>;
};
export type Repo = { id: string; private: boolean; commits: HubCommit[] }; // newest first
export type CommitOp = { key: string; value: Record<string, unknown> & { path: string } };

/** An error the Hub answers as `{"error": message}` with an optional `X-Error-Code`. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly code?: string) {
    super(message);
  }
}

const DEFAULT_ATTRIBUTES = ["*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.onnx", "*.zip"]
  .map((p) => `${p} filter=lfs diff=lfs merge=lfs -text\n`).join("");

export function hash(alg: "sha1" | "sha256", ...parts: (string | Uint8Array)[]): string {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return h.digest("hex");
}

/** Git's blob id: what the tree API reports as `oid` for a regular file. */
export const gitBlobOid = (bytes: Uint8Array): string => hash("sha1", `blob ${bytes.length}\0`, bytes);

export const lfsPointer = (oid: string, size: number): string =>
  `version https://git-lfs.github.com/spec/v1\noid sha256:${oid}\nsize ${size}\n`;

const newId = () => hash("sha1", crypto.randomUUID());
const utf8 = (s: string) => new TextEncoder().encode(s);

export class HubStore {
  readonly repos = new Map<string, Repo>();

  constructor(readonly dir: string) {}

  lfsPath = (oid: string): string => `${this.dir}/lfs/${oid}`;
  blobPath = (oid: string): string => `${this.dir}/blobs/${oid}`;

  /** A new repo holds one commit with the default .gitattributes, as on the Hub. */
  async create(id: string, isPrivate: boolean): Promise<Repo> {
    const commitId = newId();
    const files = new Map([[".gitattributes", await this.storeBlob(utf8(DEFAULT_ATTRIBUTES), commitId)]]);
    const first = {
      id: commitId,
      title: "initial commit",
      message: "",
      date: new Date().toISOString(),
      files,
    };
    const repo = { id, private: isPrivate, commits: [first] };
    this.repos.set(id, repo);
    return repo;
  }

  /** `main` is the newest commit; any other revision must be a commit id. */
  revision(repo: Repo, rev: string): HubCommit {
    const commit = rev === "main" ? repo.commits[0] : repo.commits.find((c) => c.id === rev);
    if (!commit) throw new HttpError(404, `Invalid rev id: ${rev}`, "RevisionNotFound");
    return commit;
  }

  async hasLfs(oid: string): Promise<boolean> {
    return await Deno.stat(this.lfsPath(oid)).then(() => true, () => false);
  }

  async storeLfs(oid: string, bytes: Uint8Array): Promise<void> {
    if (hash("sha256", bytes) !== oid) {
      throw new HttpError(400, `Uploaded content does not match sha256 ${oid}`);
    }
    await Deno.mkdir(`${this.dir}/lfs`, { recursive: true });
    await Deno.writeFile(this.lfsPath(oid), bytes);
  }

  async storePart(oid: string, part: number, bytes: Uint8Array): Promise<string> {
    await Deno.mkdir(`${this.dir}/parts/${oid}`, { recursive: true });
    await Deno.writeFile(`${this.dir}/parts/${oid}/${part}`, bytes);
    return `"${hash("sha1", bytes)}"`;
  }

  /** Joins the parts in order; every ETag must be the one its PUT answered. */
  async completeMultipart(oid: string, parts: { partNumber: number; etag: string }[]): Promise<void> {
    const chunks: Uint8Array[] = [];
    for (const { partNumber, etag } of [...parts].sort((a, b) => a.partNumber - b.partNumber)) {
      const part = await Deno.readFile(`${this.dir}/parts/${oid}/${partNumber}`).catch(() => null);
      if (!part || `"${hash("sha1", part)}"` !== etag) {
        throw new HttpError(400, `Part ${partNumber} of ${oid} is missing or its ETag differs`);
      }
      chunks.push(part);
    }
    await this.storeLfs(oid, Buffer.concat(chunks));
    await Deno.remove(`${this.dir}/parts/${oid}`, { recursive: true });
  }

  /** LFS when non-empty and big, matched by .gitattributes, or binary (a NUL byte in the sample). */
  uploadMode(
    attrs: string,
    path: string,
    size: number,
    sample: string,
    threshold: number,
  ): "lfs" | "regular" {
    const binary = Buffer.from(sample, "base64").includes(0);
    return size > 0 && (size >= threshold || matchesAttributes(attrs, path) || binary) ? "lfs" : "regular";
  }

  /** Applies NDJSON operations on top of `head` as one new commit on main. */
  async commit(
    repo: Repo,
    head: HubCommit,
    header: Record<string, unknown>,
    ops: CommitOp[],
  ): Promise<HubCommit> {
    if (header.parentCommit && header.parentCommit !== head.id) {
      throw new HttpError(412, "A commit has happened since. Please refresh and try again.");
    }
    if (head !== repo.commits[0]) throw new HttpError(400, "Commits are accepted on main only");
    const id = newId();
    const files = new Map(head.files);
    for (const { key, value } of ops) {
      if (key === "file") {
        files.set(value.path, await this.storeBlob(Buffer.from(String(value.content), "base64"), id));
      } else if (key === "lfsFile") {
        files.set(value.path, await this.#lfsEntry(value.path, String(value.oid), Number(value.size), id));
      } else if (key === "deletedFile") {
        if (!files.delete(value.path)) {
          throw new HttpError(404, `File not found: ${value.path}`, "EntryNotFound");
        }
      } else throw new HttpError(400, `Unknown operation "${key}"`);
    }
    await this.#extendAttributes(files, ops.filter((o) => o.key === "lfsFile").map((o) => o.value.path), id);
    await this.#validateCard(files);
    const commit = {
      id,
      title: String(header.summary),
      message: String(header.description ?? ""),
      date: new Date().toISOString(),
      files,
    };
    repo.commits.unshift(commit);
    return commit;
  }

  /** The tree API's entries under `prefix`: files and (derived) directories, sorted by path. */
  tree(repo: Repo, commit: HubCommit, prefix: string, recursive: boolean, expand: boolean): unknown[] {
    const out = new Map<string, unknown>();
    for (const [path, e] of [...commit.files].sort(([a], [b]) => a.localeCompare(b))) {
      if (!path.startsWith(prefix)) continue;
      const parts = path.slice(prefix.length).split("/");
      for (let i = 1; i < parts.length && (recursive || i === 1); i++) {
        const dir = prefix + parts.slice(0, i).join("/");
        out.set(dir, { type: "directory", oid: hash("sha1", dir), size: 0, path: dir });
      }
      if (!recursive && parts.length > 1) continue;
      const last = expand ? repo.commits.find((c) => c.id === e.lastCommit) : undefined;
      const lastCommit = last && { id: last.id, title: last.title, date: last.date };
      out.set(path, { type: "file", oid: e.oid, size: e.size, path, lfs: e.lfs, lastCommit });
    }
    return [...out.values()];
  }

  /** A file's bytes at a commit; `raw` gives the pointer of an LFS file, as `/raw/` does. */
  async read(e: HubEntry, raw: boolean): Promise<Uint8Array> {
    if (e.lfs && raw) return utf8(lfsPointer(e.lfs.oid, e.size));
    return await Deno.readFile(e.lfs ? this.lfsPath(e.lfs.oid) : this.blobPath(e.oid));
  }

  async storeBlob(bytes: Uint8Array, commit: string): Promise<HubEntry> {
    const oid = gitBlobOid(bytes);
    await Deno.mkdir(`${this.dir}/blobs`, { recursive: true });
    await Deno.writeFile(this.blobPath(oid), bytes);
    return { size: bytes.length, oid, lastCommit: commit };
  }

  async text(files: Map<string, HubEntry>, path: string): Promise<string> {
    const e = files.get(path);
    return e && !e.lfs ? await Deno.readTextFile(this.blobPath(e.oid)) : "";
  }

  /** The Hub rejects a pointer to an object that was never uploaded. */
  async #lfsEntry(path: string, oid: string, size: number, commit: string): Promise<HubEntry> {
    const stat = await Deno.stat(this.lfsPath(oid)).catch(() => null);
    if (stat?.size !== size) {
      throw new HttpError(
        400,
        `Your push was rejected because an LFS pointer pointed to a file that does not exist. Offending file: ${path}`,
      );
    }
    const pointer = utf8(lfsPointer(oid, size));
    return {
      size,
      oid: gitBlobOid(pointer),
      lfs: { oid, size, pointerSize: pointer.length },
      lastCommit: commit,
    };
  }

  /** The Hub appends a line to .gitattributes for each LFS path its patterns miss. */
  async #extendAttributes(files: Map<string, HubEntry>, lfsPaths: string[], commit: string): Promise<void> {
    const attrs = await this.text(files, ".gitattributes");
    const missing = lfsPaths.filter((p) => !matchesAttributes(attrs, p));
    if (missing.length === 0) return;
    const lines = missing.map((p) =>
      `${p.replaceAll(" ", "[[:space:]]")} filter=lfs diff=lfs merge=lfs -text\n`
    );
    files.set(".gitattributes", await this.storeBlob(utf8(attrs + lines.join("")), commit));
  }

  /** Like the Hub: front matter must be YAML, and `base_model` a Hub id (never a local path). */
  async #validateCard(files: Map<string, HubEntry>): Promise<void> {
    const front = (await this.text(files, "README.md")).match(/^---\n([\s\S]*?)\n---/)?.[1];
    if (front === undefined) return;
    let meta: Record<string, unknown>;
    try {
      meta = parseYaml(front) ?? {};
    } catch (e) {
      throw new HttpError(400, `Invalid metadata in README.md.\n- ${(e as Error).message}`);
    }
    const bases = [meta.base_model ?? []].flat();
    if (bases.some((b) => typeof b !== "string" || !/^[\w-][\w.-]*(\/[\w.-]+)?$/.test(b))) {
      throw new HttpError(400, 'Invalid metadata in README.md.\n- "base_model" must be a Hub model id');
    }
  }
}

/** Whether a .gitattributes line with `filter=lfs` covers `path` (`*.ext`, `?`, or a full path). */
export function matchesAttributes(attrs: string, path: string): boolean {
  return attrs.split("\n").some((line) => {
    const [pattern, ...rest] = line.trim().split(/\s+/);
    if (!pattern || !rest.includes("filter=lfs")) return false;
    const glob = pattern.replaceAll("[[:space:]]", " ").replace(/[.+^${}()|\\]/g, "\\$&")
      .replaceAll("*", "[^/]*").replaceAll("?", "[^/]");
    return new RegExp(`^${glob}$`).test(pattern.includes("/") ? path : path.split("/").at(-1)!);
  });
}
