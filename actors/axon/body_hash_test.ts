import assert from "node:assert/strict";
import { bodyHash, EMPTY_BODY_HASH, PyFloat, pyFloatRepr, pyStr, pyStrRepr, sha3Hex } from "./body_hash.ts";

// Expected strings printed by CPython 3.11 `repr()` (see tests/axon_protocol_sdk_test.ts for the live check).
const FLOATS: [number, string][] = JSON.parse(
  `[[0.0, "0.0"], [-0.0, "-0.0"], [1.0, "1.0"], [-1.5, "-1.5"], [0.1, "0.1"], [1e+16, "1e+16"],
  [9999999999999998.0, "9999999999999998.0"], [1000000000000000.0, "1000000000000000.0"],
  [123456789.123, "123456789.123"], [0.0001, "0.0001"], [1e-05, "1e-05"], [0.00012345, "0.00012345"],
  [1.5e-10, "1.5e-10"], [1e+22, "1e+22"], [1.7976931348623157e+308, "1.7976931348623157e+308"],
  [5e-324, "5e-324"], [2.5e-05, "2.5e-05"], [12.0, "12.0"], [3.14159, "3.14159"], [100.0, "100.0"],
  [1e+100, "1e+100"], [1.23e+20, "1.23e+20"]]`,
);

const STRINGS: [string, string][] = JSON.parse(
  `[["plain", "'plain'"], ["it's", "\\"it's\\""], ["say \\"hi\\"", "'say \\"hi\\"'"],
  ["both ' and \\"", "'both \\\\' and \\"'"], ["back\\\\slash", "'back\\\\\\\\slash'"],
  ["tab\\tnl\\ncr\\r", "'tab\\\\tnl\\\\ncr\\\\r'"], ["\\u0000\\u001f\\u007f", "'\\\\x00\\\\x1f\\\\x7f'"],
  ["\\u00e9 \\u00fc \\u4e2d\\u6587 \\ud83d\\ude00", "'\\u00e9 \\u00fc \\u4e2d\\u6587 \\ud83d\\ude00'"],
  ["\\u00a0nbsp", "'\\\\xa0nbsp'"], ["\\u00ad", "'\\\\xad'"], ["\\u2028", "'\\\\u2028'"],
  ["\\u200b", "'\\\\u200b'"], ["\\ue000", "'\\\\ue000'"]]`,
);

Deno.test("pyFloatRepr() matches CPython repr for fixed and exponent forms", () => {
  for (const [x, expected] of FLOATS) assert.equal(pyFloatRepr(x), expected, `repr(${x})`);
  assert.equal(pyFloatRepr(Infinity), "inf");
  assert.equal(pyFloatRepr(-Infinity), "-inf");
  assert.equal(pyFloatRepr(NaN), "nan");
});

Deno.test("pyStrRepr() matches CPython repr for quotes, escapes and non-printable characters", () => {
  for (const [s, expected] of STRINGS) assert.equal(pyStrRepr(s), expected, `repr(${JSON.stringify(s)})`);
});

Deno.test("pyStr() formats str, int, float, bool, None, list and dict like Python str()", () => {
  assert.equal(pyStr("it's"), "it's");
  assert.equal(pyStr(42), "42");
  assert.equal(pyStr(12345678901234567890n), "12345678901234567890");
  assert.equal(pyStr(new PyFloat(1)), "1.0");
  assert.equal(pyStr(2.5), "2.5");
  assert.equal(pyStr(true), "True");
  assert.equal(pyStr(null), "None");
  assert.equal(pyStr([1, "a", null, false, new PyFloat(2)]), "[1, 'a', None, False, 2.0]");
  assert.equal(pyStr({ k: [true, null, "x"], "it's": {} }), `{'k': [True, None, 'x'], "it's": {}}`);
  assert.equal(pyStr([]), "[]");
});

Deno.test("bodyHash() of no fields is sha3-256 of the empty string", () => {
  assert.equal(bodyHash([]), EMPTY_BODY_HASH);
  assert.equal(sha3Hex(""), EMPTY_BODY_HASH);
});

Deno.test("bodyHash() hashes the concatenated per-field hashes in field order", () => {
  const expected = sha3Hex(sha3Hex("abc") + sha3Hex("[1, 2]"));
  assert.equal(bodyHash(["abc", [1, 2]]), expected);
  assert.notEqual(bodyHash([[1, 2], "abc"]), expected);
});
