/**
 * What the local Hub (hub_server.ts) needs to answer like the real one for operators' checks and
 * downloads: gated repos (model info readable by all; files answer 401 anonymous and 403 `GatedRepo`
 * until the user is granted access, as on the Hub before the license is accepted), model info with
 * files metadata (`?blobs=true`: size, blob id, LFS sha256, as `huggingface_hub`'s `model_info(...,
 * files_metadata=True)` reads it), and a throttle that streams file bodies slowly so a test can kill a
 * download halfway.
 */
import { HttpError, type HubCommit, type Repo } from "./hub_server_store.ts";
import type { Account } from "./hub_server_wire.ts";

export class HubAccess {
  /** Gated repo id → users granted access. */
  readonly #gates = new Map<string, Set<string>>();
  /** Bytes per second for file bodies; null: at once. */
  bytesPerSecond: number | null = null;
  /** `repo/path` of files served with one byte changed (a corrupt mirror, for verification tests). */
  readonly corrupt = new Set<string>();

  gate(repoId: string): void {
    if (!this.#gates.has(repoId)) this.#gates.set(repoId, new Set());
  }

  grant(repoId: string, user: string): void {
    this.#gates.get(repoId)?.add(user);
  }

  gated(repoId: string): boolean {
    return this.#gates.has(repoId);
  }

  /** Throws the Hub's answer when `acct` may not read the files of a gated repo. */
  checkFiles(repoId: string, acct: Account | null | undefined): void {
    const granted = this.#gates.get(repoId);
    if (!granted || (acct && granted.has(acct.user))) return;
    if (!acct) {
      throw new HttpError(
        401,
        `Access to model ${repoId} is restricted. You must be authenticated.`,
        "GatedRepo",
      );
    }
    throw new HttpError(
      403,
      `Access to model ${repoId} is restricted and you are not in the authorized list. ` +
        `Visit https://huggingface.co/${repoId} to ask for access.`,
      "GatedRepo",
    );
  }

  /** The model info body: with `blobs`, each sibling's size, blob id and LFS facts. */
  infoBody(repo: Repo, head: HubCommit, blobs: boolean): unknown {
    const siblings = [...head.files].map(([rfilename, e]) =>
      blobs
        ? {
          rfilename,
          size: e.size,
          blobId: e.oid,
          ...(e.lfs && { lfs: { size: e.lfs.size, sha256: e.lfs.oid, pointerSize: e.lfs.pointerSize } }),
        }
        : { rfilename }
    );
    const gated = this.gated(repo.id) ? "manual" : false;
    return { id: repo.id, modelId: repo.id, private: repo.private, gated, sha: head.id, siblings };
  }

  /** The bytes to serve for `path` of `repoId`: altered when the test asked for a corrupt copy. */
  served(repoId: string, path: string, bytes: Uint8Array): Uint8Array {
    if (!this.corrupt.has(`${repoId}/${path}`) || bytes.length === 0) return bytes;
    const copy = bytes.slice();
    copy[copy.length - 1] ^= 0xff;
    return copy;
  }

  /** `res` with its body sent at `bytesPerSecond` in small chunks (unchanged when not throttled). */
  throttled(res: Response): Response {
    const rate = this.bytesPerSecond;
    if (rate === null || res.body === null) return res;
    const chunk = Math.max(1, Math.floor(rate / 20)); // 20 chunks a second
    const reader = res.body.getReader();
    let pending = new Uint8Array(0);
    const body = new ReadableStream<Uint8Array>({
      async pull(ctl) {
        while (pending.length === 0) {
          const next = await reader.read();
          if (next.done) return ctl.close();
          pending = next.value;
        }
        await new Promise((r) => setTimeout(r, 50));
        ctl.enqueue(pending.slice(0, chunk));
        pending = pending.slice(chunk);
      },
      cancel: (why) => reader.cancel(why),
    });
    return new Response(body, { status: res.status, headers: res.headers });
  }
}
