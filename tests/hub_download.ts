/**
 * Downloads a repo revision into a folder with `@huggingface/hub` (listFiles + downloadFile), for
 * checking what an upload left on the Hub: tests compare bytes, the e2e suite loads the adapter back
 * with peft. Paths from the Hub are checked to stay inside `dest` before anything is written.
 */
import { downloadFile, listFiles } from "@huggingface/hub";
import { dirname, join } from "node:path";
import { isSafeRelativePath } from "../actors/upload/plan.ts";

export type DownloadParams = {
  hubUrl: string;
  repo: string;
  /** A branch or commit sha; default "main". */
  revision?: string;
  accessToken?: string;
  fetch?: typeof fetch;
};

/** Writes every file of the revision under `dest` and returns their paths, sorted. */
export async function downloadSnapshot(params: DownloadParams, dest: string): Promise<string[]> {
  const { hubUrl, repo, accessToken, fetch } = params;
  const revision = params.revision ?? "main";
  const paths: string[] = [];
  for await (const entry of listFiles({ repo, revision, recursive: true, hubUrl, accessToken, fetch })) {
    if (entry.type !== "file") continue;
    if (!isSafeRelativePath(entry.path)) {
      throw new Error(`Cannot download "${entry.path}" from "${repo}": unsafe path`);
    }
    const blob = await downloadFile({
      repo,
      path: entry.path,
      revision,
      hubUrl,
      accessToken,
      fetch,
      xet: false,
    });
    if (!blob) throw new Error(`Cannot download "${entry.path}" from "${repo}" at ${revision}: not found`);
    const target = join(dest, entry.path);
    await Deno.mkdir(dirname(target), { recursive: true });
    await Deno.writeFile(target, blob.stream());
    paths.push(entry.path);
  }
  return paths.sort();
}
