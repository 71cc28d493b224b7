/**
 * The two Hub routes a dataset download needs — the tree listing and `resolve` — built with the URL
 * API, one encoded segment per name, so a revision or path can never step to another route (the
 * schema refuses `..` too; this is the second lock). The token goes only to the configured Hub's
 * origin: a redirect to a CDN or anywhere else is fetched without it, through the same address
 * checks as any dataset URL.
 */
import { z } from "zod";
import { DatasetError } from "./limits.ts";
import type { FetchSession, GetOptions } from "./safe_fetch.ts";

/** One page of a listing may be this large; the Hub sends ~1000 entries a page, far less. */
const LISTING_PAGE_BYTES = 32 * 1024 * 1024;

const TreeEntry = z.looseObject({
  type: z.string(),
  path: z.string(),
  size: z.number().int().nonnegative().optional(),
  lfs: z.looseObject({ size: z.number().int().nonnegative() }).nullish(),
});

export interface HubFile {
  path: string;
  /** What the listing says; null when it says nothing. Checked again on the bytes received. */
  size: number | null;
}

export interface HubRef {
  hubUrl: string;
  token?: string | null;
  repo: string;
  revision: string;
}

/** `base` + encoded `segments`, keeping a path prefix the Hub URL may have. */
export function hubRoute(base: string, segments: string[], query: Record<string, string> = {}): URL {
  for (const s of segments) {
    if (s === "" || s === "." || s === "..") {
      throw new DatasetError(`Cannot build a Hub URL: segment "${s}" is not a name`, null, {
        code: "dataset_invalid",
      });
    }
  }
  const url = new URL(base);
  url.pathname = [url.pathname.replace(/\/+$/, ""), ...segments.map(encodeURIComponent)].join("/");
  url.search = new URLSearchParams(query).toString();
  return url;
}

const split = (path: string) => path.split("/");

export function treeUrl(ref: HubRef, path: string | null): URL {
  const where = path === null ? [] : split(path);
  return hubRoute(ref.hubUrl, ["api", "datasets", ...split(ref.repo), "tree", ref.revision, ...where], {
    recursive: "true",
    expand: "false",
  });
}

export function resolveUrl(ref: HubRef, path: string): URL {
  return hubRoute(ref.hubUrl, ["datasets", ...split(ref.repo), "resolve", ref.revision, ...split(path)]);
}

/** Request options for the Hub: its origin trusted and given the token, every other origin neither. */
export function hubOptions(ref: HubRef): GetOptions {
  const origin = new URL(ref.hubUrl).origin;
  return {
    trusted: (u) => u.origin === origin,
    headers: (u): Record<string, string> =>
      u.origin === origin && ref.token ? { authorization: `Bearer ${ref.token}` } : {},
  };
}

/** Every file under `path` (recursive), following the listing's `Link: rel="next"` pages. */
export async function listHubFiles(
  session: FetchSession,
  ref: HubRef,
  path: string | null,
  maxFiles: number,
): Promise<HubFile[]> {
  const files: HubFile[] = [];
  const opts = hubOptions(ref);
  let next: URL | null = treeUrl(ref, path);
  for (let page = 0; next !== null; page++) {
    const fetched = await session.get(next, opts);
    const text = await session.text(fetched, LISTING_PAGE_BYTES); // reads to the end: the hop is freed
    const parsed = z.array(TreeEntry).safeParse(parseJson(text));
    if (!parsed.success) {
      throw session.fail(
        "dataset_unreachable",
        `the Hub's listing of "${ref.repo}" is not a list of entries`,
      );
    }
    for (const entry of parsed.data) {
      if (entry.type !== "file" || entry.path.endsWith(".gitattributes")) continue;
      files.push({ path: entry.path, size: entry.lfs?.size ?? entry.size ?? null });
      if (files.length > maxFiles) {
        throw new DatasetError(`Cannot fetch dataset "${ref.repo}": more than ${maxFiles} files`);
      }
    }
    next = nextPage(fetched.response.headers.get("link"), fetched.url);
  }
  return files;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** The `rel="next"` target of a Link header, resolved against the page that sent it. */
export function nextPage(link: string | null, base: URL): URL | null {
  for (const part of link?.split(",") ?? []) {
    const m = part.match(/^\s*<([^>]*)>\s*;(.*)$/);
    if (m && /(^|;)\s*rel="?next"?\s*(;|$)/.test(m[2])) {
      try {
        return new URL(m[1], base);
      } catch {
        return null;
      }
    }
  }
  return null;
}
