/**
 * Pure decoding of the trainer's stdout (JSON lines, one TrainerEvent each) and of how a run
 * ended. Kept apart from the process handling so every odd case (a library printing to stdout,
 * a split UTF-8 chunk, a crash after `done`) is testable without spawning Python.
 */
import { z } from "zod";
import {
  type DoneEvent,
  type TrainerErrorCode,
  TrainerEvent,
  type TrainerOutcome,
} from "../../core/training.ts";

/** A decoded line: its event, or why it is not one (`text`: the line itself, for logs and stderr tails). */
export type Decoded =
  | { ok: true; event: TrainerEvent }
  | { ok: false; line: number; problem: string; text: string };

/** Splits a byte stream into lines and decodes each; keeps a partial line until its newline comes. */
export class EventDecoder {
  private buffer = "";
  private lineNo = 0;
  private readonly text = new TextDecoder();

  push(chunk: Uint8Array): Decoded[] {
    this.buffer += this.text.decode(chunk, { stream: true });
    const lines = this.buffer.split("\n");
    this.buffer = lines.pop() ?? "";
    return lines.filter((l) => l.trim() !== "").map((l) => this.decodeLine(l));
  }

  /** Decodes whatever is left when the stream closes (a last line without newline). */
  end(): Decoded[] {
    const rest = this.buffer + this.text.decode();
    this.buffer = "";
    return rest.trim() === "" ? [] : [this.decodeLine(rest)];
  }

  private decodeLine(line: string): Decoded {
    const lineNo = ++this.lineNo;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      return { ok: false, line: lineNo, problem: `not JSON: "${line.slice(0, 120)}"`, text: line };
    }
    const parsed = TrainerEvent.safeParse(json);
    return parsed.success ? { ok: true, event: parsed.data } : {
      ok: false,
      line: lineNo,
      problem: z.prettifyError(parsed.error).replaceAll("\n", "; "),
      text: line,
    };
  }
}

export type RunEnd = {
  done: DoneEvent | null;
  error: { code: TrainerErrorCode; message: string } | null;
  status: { code: number; signal: string | null };
  stderrTail: string[];
  timedOut: boolean;
  cancelled: boolean;
};

/** A run's end before anything is known of it: no events, no exit status yet. */
export function newRunEnd(): RunEnd {
  return {
    done: null,
    error: null,
    status: { code: -1, signal: null },
    stderrTail: [],
    timedOut: false,
    cancelled: false,
  };
}

/** Decides the outcome: success only with a `done` event and exit code 0, as the contract says. */
export function outcomeOf(end: RunEnd): TrainerOutcome {
  if (end.timedOut) {
    return { ok: false, code: "timeout", message: `Training exceeded its time limit${tail(end)}` };
  }
  if (end.done && end.status.code === 0 && !end.error) return { ok: true, done: end.done };
  if (end.error) return { ok: false, code: end.error.code, message: end.error.message };
  if (end.cancelled) return { ok: false, code: "cancelled", message: "Training was cancelled" };
  const how = end.status.signal
    ? `was killed by ${end.status.signal}`
    : `exited with code ${end.status.code}`;
  const what = end.done ? " after reporting done" : " without a result";
  return { ok: false, code: "crashed", message: `Trainer ${how}${what}${tail(end)}` };
}

function tail(end: RunEnd): string {
  return end.stderrTail.length ? `; last stderr lines: ${end.stderrTail.join(" | ")}` : "";
}

/** Keeps the last `max` lines of a text stream, for failure reasons. */
export class LineTail {
  private lines: string[] = [];
  private partial = "";
  private readonly text = new TextDecoder();
  constructor(private readonly max: number) {}

  push(chunk: Uint8Array): string[] {
    const parts = (this.partial + this.text.decode(chunk, { stream: true })).split("\n");
    this.partial = parts.pop() ?? "";
    const complete = parts.filter((l) => l.trim() !== "");
    this.lines = [...this.lines, ...complete].slice(-this.max);
    return complete;
  }

  get last(): string[] {
    return this.partial.trim() ? [...this.lines, this.partial].slice(-this.max) : this.lines;
  }
}
