/** A scripted terminal for the password prompt (core/wallet_password.ts): what a person types, in chunks. */
import type { PasswordTerminal } from "../core/wallet_password.ts";

export interface ScriptedTerminal {
  terminal: PasswordTerminal;
  /** Everything written to the terminal (the question and the final newline: never what was typed). */
  written(): string;
  /** Each `setRaw` call in order. */
  rawModes: boolean[];
}

/** Types `keys` a few bytes per read, as a terminal delivers keystrokes; EOF after the last one. */
export function scriptedTerminal(keys: string | Uint8Array, { isTerminal = true } = {}): ScriptedTerminal {
  const bytes = typeof keys === "string" ? new TextEncoder().encode(keys) : keys;
  let pos = 0;
  const out: Uint8Array[] = [];
  const rawModes: boolean[] = [];
  const terminal: PasswordTerminal = {
    stdin: {
      isTerminal: () => isTerminal,
      setRaw: (mode) => void rawModes.push(mode),
      read: (p) => {
        if (pos >= bytes.length) return Promise.resolve(null);
        const n = Math.min(p.length, 3, bytes.length - pos);
        p.set(bytes.subarray(pos, pos + n));
        pos += n;
        return Promise.resolve(n);
      },
    },
    output: { writeSync: (p) => (out.push(p.slice()), p.length) },
  };
  const written = () => out.map((p) => new TextDecoder().decode(p)).join("");
  return { terminal, written, rawModes };
}
