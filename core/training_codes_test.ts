/**
 * The trainer's error codes cannot drift: trainer/errors.py's `ErrorCode` literal (what the Python
 * trainer raises) holds exactly `TrainerErrorCode` (what the miner decides retry vs fail on). The pytest
 * side (trainer/tests/test_contract.py) checks the generated events schema against the same literal, so
 * a code added on either side alone fails one of them.
 */
import assert from "node:assert/strict";
import { TrainerErrorCode } from "./training.ts";

const ERRORS_PY = new URL("../trainer/errors.py", import.meta.url);

/** The string members of `ErrorCode = Literal[...]` in a Python source (one or many lines). */
function pythonErrorCodes(source: string): string[] {
  const block = source.match(/^ErrorCode\s*=\s*Literal\[([^\]]*)\]/m);
  if (!block) throw new SyntaxError('Cannot find "ErrorCode = Literal[...]" in trainer/errors.py');
  return [...block[1].matchAll(/"([^"]*)"|'([^']*)'/g)].map((m) => m[1] ?? m[2]);
}

Deno.test("TrainerErrorCode holds exactly the codes of trainer/errors.py ErrorCode", async () => {
  const python = pythonErrorCodes(await Deno.readTextFile(ERRORS_PY));
  const zod: string[] = [...TrainerErrorCode.options];
  assert.deepEqual(
    {
      onlyInPython: python.filter((c) => !zod.includes(c)),
      onlyInZod: zod.filter((c) => !python.includes(c)),
    },
    { onlyInPython: [], onlyInZod: [] },
  );
  assert.equal(new Set(python).size, python.length, `trainer/errors.py repeats a code: ${python}`);
});

Deno.test("pythonErrorCodes() reads every member when the literal spans lines and quote styles", () => {
  const source =
    `from typing import Literal\n\nErrorCode = Literal[\n    "oom",\n    'cancelled',  # why\n]\n`;
  assert.deepEqual(pythonErrorCodes(source), ["oom", "cancelled"]);
  assert.throws(() => pythonErrorCodes("Code = str\n"), SyntaxError);
});
