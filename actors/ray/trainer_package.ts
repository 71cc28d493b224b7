/**
 * The trainer as a Ray working_dir package: the repo's `trainer/` Python package zipped, so a job's cwd on
 * any node holds `trainer/` and `python -m trainer` runs the same code as a local GPU. The zip is
 * deterministic (sorted paths, a fixed timestamp, fixed compression), so the same code gives the same
 * bytes and the same content-addressed name, and Ray is sent a package only when the code changed.
 */
import { type ZipOptions, type Zippable, zipSync } from "fflate";

export type TrainerPackage = { name: string; uri: string; bytes: Uint8Array };

/** Folders that are not the trainer: its tests and the caches Python and its tools leave behind. */
const SKIP_DIRS = new Set(["tests", "__pycache__", ".ruff_cache", ".pytest_cache"]);
const SKIP_FILE = /\.py[co]$/;
/** Ray strips a zip's single top-level folder; this file keeps `trainer/` a folder in the cwd. */
const MARKER = "satori_package.json";
// DOS times are local wall-clock fields; a Date built from fields reads back the same in every time zone.
const FIXED_MTIME = new Date(2000, 0, 1, 0, 0, 0);
// Regular file, rw-r--r--, in the Unix external-attribute layout (os 3).
const ENTRY: ZipOptions = { mtime: FIXED_MTIME, level: 6, os: 3, attrs: 0o100644 << 16 };

/** Zips `<trainerRoot>/trainer/` and names it after its content: `_ray_pkg_<sha256 prefix>.zip`. */
export async function trainerPackage(trainerRoot: string): Promise<TrainerPackage> {
  const base = `${trainerRoot.replace(/\/+$/, "")}/trainer`;
  const paths = await listFiles(base, "");
  if (paths.length === 0) throw new Error(`Cannot build the trainer package: "${base}" holds no files`);
  const marker = JSON.stringify({ package: "satori-trainer", files: paths.length });
  const files: [string, Uint8Array][] = [[MARKER, new TextEncoder().encode(marker)]];
  for (const p of paths) files.push([`trainer/${p}`, await Deno.readFile(`${base}/${p}`)]);
  const entries: Zippable = {};
  for (const [path, data] of files.sort(([a], [b]) => byCodeUnit(a, b))) entries[path] = [data, ENTRY];
  const bytes = zipSync(entries);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("").slice(0, 32);
  const name = `_ray_pkg_${hex}.zip`;
  return { name, uri: `gcs://${name}`, bytes };
}

/** Relative paths of the files under `dir`, following links, skipping tests and caches. */
async function listFiles(root: string, rel: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(rel ? `${root}/${rel}` : root)) {
    const path = rel ? `${rel}/${e.name}` : e.name;
    const info = e.isSymlink ? await Deno.stat(`${root}/${path}`) : e;
    if (info.isDirectory && !SKIP_DIRS.has(e.name)) out.push(...await listFiles(root, path));
    else if (info.isFile && !SKIP_FILE.test(e.name)) out.push(path);
  }
  return out;
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
