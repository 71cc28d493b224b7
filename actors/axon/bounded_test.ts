import assert from "node:assert/strict";
import { setBounded } from "./bounded.ts";

Deno.test("setBounded() drops the least recently set entries past the cap", () => {
  const m = new Map<string, number>();
  for (const k of ["a", "b", "c"]) setBounded(m, k, 1, 3);
  setBounded(m, "a", 2, 3); // "a" is now the most recent
  setBounded(m, "d", 1, 3);
  assert.deepEqual([...m], [["c", 1], ["a", 2], ["d", 1]]);
  for (let i = 0; i < 100; i++) setBounded(m, `k${i}`, i, 3);
  assert.deepEqual([...m.keys()], ["k97", "k98", "k99"]);
});
