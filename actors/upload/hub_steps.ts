/**
 * The Hub calls an upload is made of, one function each over `@huggingface/hub`: check the token,
 * ensure the repo, look for an earlier identical upload, commit. Each takes the `fetch` of its retry
 * attempt. Idempotency rests on what the Hub's API reports: the tree gives each file's git blob id and,
 * for LFS files, the sha256 we already know, so "main already holds exactly these files" is checked
 * byte for byte; the commit that did it is found by the task id its title carries.
 */
import {
  commit,
  type CommitOperation,
  createRepo,
  HubApiError,
  listCommits,
  listFiles,
  whoAmI,
} from "@huggingface/hub";
import type { PlannedFile } from "./plan.ts";

export type HubAccess = { hubUrl: string; accessToken: string; useXet: boolean };

export type TokenInfo = { name: string; orgs: string[]; role: string | null; tokenName: string | null };

export async function checkToken(access: HubAccess, fetch: typeof globalThis.fetch): Promise<TokenInfo> {
  const who = await whoAmI({ accessToken: access.accessToken, hubUrl: access.hubUrl, fetch });
  const orgs = "orgs" in who ? who.orgs.map((o) => o.name) : [];
  const token = who.auth.accessToken;
  return { name: who.name, orgs, role: token?.role ?? null, tokenName: token?.displayName ?? null };
}

/** Creates the model repo; an existing one (409 "already created") is fine, a conflict in progress is retried. */
export async function ensureRepo(
  access: HubAccess,
  fetch: typeof globalThis.fetch,
  repoId: string,
  isPrivate: boolean,
): Promise<"created" | "exists"> {
  try {
    const visibility = isPrivate ? "private" : "public";
    await createRepo({
      repo: repoId,
      visibility,
      accessToken: access.accessToken,
      hubUrl: access.hubUrl,
      fetch,
    });
    return "created";
  } catch (e) {
    if (e instanceof HubApiError && e.statusCode === 409 && !/conflicting/i.test(e.message)) return "exists";
    throw e;
  }
}

export type RemoteState =
  /** main already holds exactly the planned files; `commitSha` is the commit titled with the task. */
  | { kind: "uploaded"; commitSha: string }
  /** Something differs; commit on top of `head`, deleting `stale` paths left by an earlier attempt. */
  | { kind: "differs"; head: string | null; stale: string[] };

/** Paths a repo keeps that are not ours to compare or delete. */
const HUB_OWNED = new Set([".gitattributes"]);

export async function remoteState(
  access: HubAccess,
  fetch: typeof globalThis.fetch,
  repoId: string,
  files: PlannedFile[],
  marker: string,
): Promise<RemoteState> {
  const params = { repo: repoId, accessToken: access.accessToken, hubUrl: access.hubUrl, fetch };
  const remote = new Map<string, { size: number; oid?: string; lfs?: { oid: string } }>();
  for await (const e of listFiles({ ...params, recursive: true })) {
    if (e.type === "file" && !HUB_OWNED.has(e.path)) remote.set(e.path, e);
  }
  const planned = new Set(files.map((f) => f.path));
  const stale = [...remote.keys()].filter((p) => !planned.has(p));
  const same = stale.length === 0 && files.every((f) => {
    const e = remote.get(f.path);
    return !!e && e.size === f.bytes && (e.lfs ? e.lfs.oid === f.sha256 : e.oid === f.gitOid);
  });
  let head: string | null = null;
  for await (const c of listCommits({ ...params, batchSize: 100 })) {
    head ??= c.oid;
    if (!same) break;
    if (c.title.includes(marker)) return { kind: "uploaded", commitSha: c.oid };
  }
  // Identical files without our commit (uploaded by hand, or our title edited): the head holds them.
  // An empty main (no commit at all) only happens on Hub look-alikes; commit without a parent then.
  if (same && head !== null) return { kind: "uploaded", commitSha: head };
  return { kind: "differs", head, stale };
}

/**
 * One commit with every planned file (LFS objects the Hub already has are not sent again) and the
 * deletions; `parentCommit` makes the Hub refuse it (412) if main moved since `remoteState` looked.
 */
export async function commitFiles(
  access: HubAccess,
  fetch: typeof globalThis.fetch,
  repoId: string,
  files: PlannedFile[],
  state: { head: string | null; stale: string[] },
  message: { title: string; description: string },
): Promise<string> {
  const operations: CommitOperation[] = [
    ...files.map((f) => ({ operation: "addOrUpdate" as const, path: f.path, content: f.content })),
    ...state.stale.map((path) => ({ operation: "delete" as const, path })),
  ];
  const out = await commit({
    repo: repoId,
    operations,
    title: message.title,
    description: message.description,
    parentCommit: state.head ?? undefined,
    accessToken: access.accessToken,
    hubUrl: access.hubUrl,
    fetch,
    // The Hub still takes LFS (basic/multipart) from clients that do not offer Xet; one protocol
    // everywhere means the path tested against the local Hub is the one production takes.
    useXet: access.useXet,
  });
  if (!out?.commit.oid) throw new Error(`The Hub answered the commit to "${repoId}" without a commit id`);
  return out.commit.oid;
}
