/**
 * Sample counts and preview rows for the manifest, read the way the trainer reads the folder
 * (trainer/data.py, trainer/image_data.py): JSON lines and CSV records streamed and counted, a few
 * rows parsed for the preview. Preview strings are cut short: they are for a human or a validator
 * glancing at the data, not a copy of it.
 */
import { join } from "node:path";
import type { DatasetFormat } from "../../../core/manifest.ts";

const PREVIEW_ROWS = 3;
const PREVIEW_CHARS = 200;
const IMAGE = /\.(png|jpe?g|webp|bmp)$/i;

export async function countSamples(
  dir: string,
  format: DatasetFormat,
  paths: string[],
): Promise<number | null> {
  switch (format) {
    case "jsonl":
      return await sum(paths.filter((p) => /\.jsonl?$/i.test(p)), (p) => countLines(join(dir, p), false));
    case "csv":
      return await sum(paths.filter((p) => /\.csv$/i.test(p)), async (p) => {
        return Math.max(0, (await countLines(join(dir, p), true)) - 1); // minus the header
      });
    case "image_metadata":
      return await countLines(join(dir, "metadata.jsonl"), false);
    case "image_folder":
      return paths.filter((p) => IMAGE.test(p) && paths.includes(p.replace(/\.[^.]+$/, ".txt"))).length;
    default:
      return null;
  }
}

export async function previewRows(
  dir: string,
  format: DatasetFormat,
  paths: string[],
): Promise<Record<string, unknown>[]> {
  if (format === "jsonl" || format === "image_metadata") {
    const file = format === "jsonl" ? paths.find((p) => /\.jsonl?$/i.test(p))! : "metadata.jsonl";
    const lines = (await head(join(dir, file))).split("\n").filter((l) => l.trim() !== "");
    return lines.slice(0, PREVIEW_ROWS).map((line) => {
      try {
        const row = JSON.parse(line);
        return row && typeof row === "object" && !Array.isArray(row) ? shorten(row) : { value: cut(line) };
      } catch {
        return { unparsed: cut(line) };
      }
    });
  }
  if (format === "csv") {
    const records = parseCsv(await head(join(dir, paths.find((p) => /\.csv$/i.test(p))!)));
    const [header, ...rows] = records;
    return rows.slice(0, PREVIEW_ROWS).map((r) =>
      Object.fromEntries((header ?? []).map((h, i) => [h, cut(r[i] ?? "")]))
    );
  }
  if (format === "image_folder") {
    const images = paths.filter((p) => IMAGE.test(p)).slice(0, PREVIEW_ROWS);
    return await Promise.all(images.map(async (p) => {
      const caption = await Deno.readTextFile(join(dir, p.replace(/\.[^.]+$/, ".txt"))).catch(() => null);
      return { file_name: p, caption: caption === null ? null : cut(caption.trim()) };
    }));
  }
  return [];
}

async function sum(paths: string[], f: (p: string) => Promise<number>): Promise<number> {
  let n = 0;
  for (const p of paths) n += await f(p);
  return n;
}

/** Non-blank lines, or with `csv` records (newlines inside double quotes do not end one). */
async function countLines(path: string, csv: boolean): Promise<number> {
  let count = 0;
  let nonBlank = false;
  let quoted = false;
  const file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) {
    for (const b of chunk) {
      if (csv && b === 0x22) quoted = !quoted;
      if (b === 0x0a && !quoted) {
        if (nonBlank) count++;
        nonBlank = false;
      } else if (b !== 0x20 && b !== 0x09 && b !== 0x0d) nonBlank = true;
    }
  }
  return nonBlank ? count + 1 : count;
}

/** The first 64 KiB as text: enough for a few preview rows. */
async function head(path: string): Promise<string> {
  using file = await Deno.open(path, { read: true });
  const buf = new Uint8Array(64 * 1024);
  const n = (await file.read(buf)) ?? 0;
  return new TextDecoder().decode(buf.subarray(0, n));
}

/** RFC 4180 records from the start of a CSV (a cut-off last record is dropped). */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"', i++);
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") (row.push(field), field = "");
    else if (c === "\n") (row.push(field.replace(/\r$/, "")), records.push(row), row = [], field = "");
    else field += c;
  }
  return records;
}

function shorten(row: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(row).map(([k, v]) => [k, typeof v === "string" ? cut(v) : cutJson(v)]),
  );
}

function cut(s: string): string {
  return s.length > PREVIEW_CHARS ? `${s.slice(0, PREVIEW_CHARS)}…` : s;
}

function cutJson(v: unknown): unknown {
  const text = JSON.stringify(v) ?? "null";
  return text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : v;
}
