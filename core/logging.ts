/**
 * Logging for the whole miner: a human-readable console sink, a size-rotated JSON-lines file and the
 * status page's ring of recent warnings, all behind the same two redaction layers. Field redaction blanks properties whose *name* says
 * secret; pattern redaction rewrites the final formatted text, so a secret that slipped into a
 * message, a property under an innocent name, or an error's message, stack or cause is caught too.
 * Actors log through `actorLogger(name)`, which tags each record with `actor` (and `taskId` via `.with`).
 */
import {
  configure,
  getConsoleSink,
  getJsonLinesFormatter,
  getLogger,
  getTextFormatter,
  reset,
} from "@logtape/logtape";
import type { Logger, LogRecord, Sink, TextFormatter } from "@logtape/logtape";
import { getRotatingFileSink } from "@logtape/file";
import { redactByField, redactByPattern } from "@logtape/redaction";
import type { RedactionPattern } from "@logtape/redaction";
import { dirname } from "node:path";
import type { LoggingConfig } from "./config.ts";

/** Root category of every miner logger; logs from libraries' own categories are not ours to print. */
export const ROOT_CATEGORY = "satori";
export const REDACTED = "[REDACTED]";

/**
 * Property names whose values never reach a sink. Anchored where a loose match would hide useful
 * facts (`max_tokens`, `tokens_per_second` stay; `token`, `hfToken`, `access_token` go).
 */
export const SECRET_FIELDS: RegExp[] = [
  /token$/i,
  /pass(word|phrase|wd)?$/i,
  /secret/i,
  /^seed$/i,
  /mnemonic/i,
  /private_?key/i,
  /api_?key/i,
  /authorization/i,
  /cookie/i,
];

// Secrets shorter than this are not matched as text: replacing every "abc" would garble the logs
// while a real token, seed or phrase is far longer.
const MIN_SECRET_LENGTH = 6;

/** Patterns for secrets we can recognise by shape, whoever logs them. */
export const SECRET_PATTERNS: RedactionPattern[] = [
  // HuggingFace user access tokens.
  { pattern: /\bhf_[A-Za-z0-9]{20,}\b/g, replacement: `hf_${REDACTED}` },
  // sr25519 mini secrets / seeds (32 bytes) and expanded private keys (64 bytes) as 0x hex.
  // Block hashes share the 32-byte shape and are redacted too: a safe loss.
  { pattern: /\b0x(?:[0-9a-fA-F]{128}|[0-9a-fA-F]{64})\b/g, replacement: `0x${REDACTED}` },
  // BIP39 mnemonics: 12 to 24 lowercase words of 3 to 8 letters (the BIP39 word lengths).
  { pattern: /\b[a-z]{3,8}(?:[ \t]+[a-z]{3,8}){11,23}\b/g, replacement: `${REDACTED} mnemonic` },
];

/** The patterns plus one per exact secret value, as written raw and as JSON escapes it. */
export function secretPatterns(secrets: readonly string[]): RedactionPattern[] {
  const variants = new Set<string>();
  for (const s of secrets) {
    if (s.length < MIN_SECRET_LENGTH) continue;
    variants.add(s);
    variants.add(JSON.stringify(s).slice(1, -1));
  }
  // Longest first, so a secret that contains another is replaced whole.
  const exact = [...variants].sort((a, b) => b.length - a.length).map((v) => ({
    pattern: new RegExp(v.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "g"),
    replacement: REDACTED,
  }));
  return [...exact, ...SECRET_PATTERNS];
}

/** Applies the same text redaction the sinks apply; for output that bypasses logging (stderr tails). */
export function redactText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const { pattern, replacement } of secretPatterns(secrets)) {
    out = typeof replacement === "string"
      ? out.replaceAll(pattern, replacement)
      : out.replaceAll(pattern, (m, ...rest) => replacement(m, ...rest));
  }
  return out;
}

/** The console methods the sink calls (by level), so tests can pass a capturing object. */
export type ConsoleLike = Pick<Console, "debug" | "info" | "warn" | "error">;

export interface LoggingOptions {
  /** Where console records go; defaults to the global console. */
  readonly console?: ConsoleLike;
}

/**
 * Configures logtape for the process: console + rotating file at `cfg.file`, at `cfg.level`.
 * `secrets` are exact values (the HF token, a mnemonic) to scrub wherever they appear.
 * Disposing flushes the file and resets logtape, so a later setup (or test) starts clean.
 */
export async function setupLogging(
  cfg: LoggingConfig,
  secrets: readonly string[],
  options: LoggingOptions = {},
): Promise<AsyncDisposable> {
  await Deno.mkdir(dirname(cfg.file), { recursive: true });
  const patterns = secretPatterns(secrets);
  const guard = (sink: Sink): Sink =>
    redactByField(sink, { fieldPatterns: SECRET_FIELDS, action: () => REDACTED }) as Sink;
  const consoleSink = getConsoleSink({
    formatter: redactByPattern(consoleFormatter, patterns),
    // logtape types this as Node's Console; it only calls the level methods we pass.
    console: options.console as NonNullable<Parameters<typeof getConsoleSink>[0]>["console"],
  });
  const fileSink = getRotatingFileSink(cfg.file, {
    formatter: redactByPattern(getJsonLinesFormatter({ properties: "flatten" }), patterns),
    maxSize: cfg.max_bytes,
    maxFiles: cfg.max_files,
    // Unbuffered: the lines before a crash or SIGKILL are the ones worth having.
    bufferSize: 0,
  });
  const recentSink = recentLinesSink(redactByPattern(lineFormatter, patterns));
  await configure({
    reset: true,
    sinks: { console: guard(consoleSink), file: guard(errorsAsText(fileSink)), recent: guard(recentSink) },
    loggers: [
      { category: [ROOT_CATEGORY], lowestLevel: cfg.level, sinks: ["console", "file", "recent"] },
      // logtape reports its own sink failures here; keep them visible but quiet.
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["console"] },
    ],
  });
  return { [Symbol.asyncDispose]: () => reset() };
}

/** A log line as the status page shows it: redacted like every sink, at warning and above. */
export type RecentLogLine = { timeMs: number; level: string; category: string; message: string };

/** Lines kept for the status page: the process's latest warnings and errors, oldest first. */
export const RECENT_LINES_MAX = 50;
const recentLines: RecentLogLine[] = [];

/** The latest lines at warning and above since logging was set up in this process (bounded). */
export function recentLogLines(): readonly RecentLogLine[] {
  return recentLines;
}

// The message and its properties as text, without time and level (the page shows those itself).
const lineFormatter: TextFormatter = getTextFormatter({
  value: "bare",
  format: (v) => `${v.message}${renderProperties(v.record)}`,
});

function recentLinesSink(format: TextFormatter): Sink {
  return (record) => {
    if (record.level !== "warning" && record.level !== "error" && record.level !== "fatal") return;
    recentLines.push({
      timeMs: record.timestamp,
      level: record.level,
      category: record.category.slice(1).join(".") || record.category.join("."),
      message: format(record).trimEnd().slice(0, 2_000),
    });
    if (recentLines.length > RECENT_LINES_MAX) recentLines.splice(0, recentLines.length - RECENT_LINES_MAX);
  };
}

/** A logger for one actor: category `satori.<actor>`, every record tagged with `actor`. */
export function actorLogger(actor: string): Logger {
  return getLogger([ROOT_CATEGORY, actor]).with({ actor });
}

// `12:03:04.567 INFO  queue: Task "t-1" queued taskId=t-1`: the actor is the category already,
// other properties follow as key=value so a task can be grepped across actors.
const consoleFormatter: TextFormatter = getTextFormatter({
  timestamp: "time",
  // Ids and paths read better bare; other values keep their inspected form.
  value: "bare",
  level: "FULL",
  category: (c) => c.slice(1).join(".") || c.join("."),
  format: (v) =>
    `${v.timestamp} ${v.level.padEnd(5)} ${v.category}: ${v.message}${renderProperties(v.record)}`,
});

// JSON renders an Error interpolated in a message as "{}"; give the message its text. The error
// itself, stack and cause included, stays in the properties.
function errorsAsText(sink: Sink): Sink {
  const text = (v: unknown, i: number) => (i % 2 === 1 && v instanceof Error ? `${v.name}: ${v.message}` : v);
  return (record) => sink({ ...record, message: record.message.map(text) });
}

function renderProperties(record: LogRecord): string {
  // Properties the message already shows (`{taskId}` in its template) are not repeated after it.
  const template = typeof record.rawMessage === "string" ? record.rawMessage : record.rawMessage.join("");
  const shown = Object.entries(record.properties).filter(([k]) =>
    k !== "actor" && !template.includes(`{${k}}`)
  );
  return shown.map(([k, v]) => ` ${k}=${renderValue(v)}`).join("");
}

function renderValue(value: unknown): string {
  if (typeof value === "string") return /^[\w.:/@-]+$/.test(value) ? value : JSON.stringify(value);
  if (value instanceof Error) return JSON.stringify(`${value.name}: ${value.message}`);
  return Deno.inspect(value, { compact: true, breakLength: Infinity, depth: 4 });
}
