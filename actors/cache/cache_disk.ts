/**
 * The CacheActor's disk: what the Hugging Face cache folder holds (each model repo's bytes, and
 * whether a snapshot is complete), deleting a model repo, and the file recording when each model was
 * last used (the LRU order survives restarts). All I/O, no decisions.
 */
import { modelOfFolder, repoFolder } from "../../core/model_cache.ts";

export type OnDiskModel = { model: string; bytes: number; complete: boolean };

/** Every model repo under `cacheDir`, with the bytes of its blobs (partial downloads included). */
export async function scanCache(cacheDir: string): Promise<OnDiskModel[]> {
  const out: OnDiskModel[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(cacheDir));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  for (const entry of entries) {
    const model = entry.isDirectory ? modelOfFolder(entry.name) : null;
    if (model === null) continue;
    const dir = `${cacheDir}/${entry.name}`;
    let bytes = 0;
    let partial = false;
    const blobs = await Array.fromAsync(Deno.readDir(`${dir}/blobs`)).catch(() => [] as Deno.DirEntry[]);
    for (const blob of blobs) {
      if (blob.name.endsWith(".incomplete")) partial = true;
      bytes += (await Deno.lstat(`${dir}/blobs/${blob.name}`).catch(() => ({ size: 0 }))).size;
    }
    const ref = await Deno.readTextFile(`${dir}/refs/main`).catch(() => null);
    const snapshot = ref === null
      ? null
      : await Deno.stat(`${dir}/snapshots/${ref.trim()}`).catch(() => null);
    out.push({ model, bytes, complete: !partial && !!snapshot?.isDirectory });
  }
  return out.sort((a, b) => a.model.localeCompare(b.model));
}

export async function deleteModel(cacheDir: string, model: string): Promise<void> {
  await Deno.remove(repoFolder(cacheDir, model), { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
}

/** model → last use (ms since the epoch); an unreadable file starts the order afresh. */
export async function readUsage(file: string): Promise<Map<string, number>> {
  try {
    const raw = JSON.parse(await Deno.readTextFile(file));
    return new Map(Object.entries(raw).filter((e): e is [string, number] => typeof e[1] === "number"));
  } catch {
    return new Map();
  }
}

export async function writeUsage(file: string, usage: ReadonlyMap<string, number>): Promise<void> {
  await Deno.mkdir(file.slice(0, file.lastIndexOf("/")) || ".", { recursive: true });
  const tmp = `${file}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(Object.fromEntries(usage)));
  await Deno.rename(tmp, file);
}
