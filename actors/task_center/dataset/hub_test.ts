import assert from "node:assert/strict";
import { hubOptions, nextPage, resolveUrl, treeUrl } from "./hub.ts";
import { DatasetError } from "./limits.ts";

const ref = { hubUrl: "https://hub.example/mirror/", token: "hf_x", repo: "org/toy", revision: "refs/pr/1" };

Deno.test("treeUrl() and resolveUrl() keep the revision one segment and the path under the repo", () => {
  assert.equal(
    treeUrl(ref, "data/train set").href,
    "https://hub.example/mirror/api/datasets/org/toy/tree/refs%2Fpr%2F1/data/train%20set?recursive=true&expand=false",
  );
  assert.equal(
    resolveUrl({ ...ref, revision: "../../../../api/whoami-v2" }, "a?b#c.jsonl").href,
    "https://hub.example/mirror/datasets/org/toy/resolve/..%2F..%2F..%2F..%2Fapi%2Fwhoami-v2/a%3Fb%23c.jsonl",
  );
  for (const path of ["../x", "a/./b", "a//b"]) {
    assert.throws(() => resolveUrl(ref, path), DatasetError, path);
  }
});

Deno.test("hubOptions() gives the token to the Hub's origin only", () => {
  const opts = hubOptions(ref);
  assert.deepEqual(opts.headers!(new URL("https://hub.example/datasets/x")), {
    authorization: "Bearer hf_x",
  });
  for (const other of ["https://cdn.hub.example/x", "http://hub.example/x", "https://hub.example:444/x"]) {
    assert.deepEqual(opts.headers!(new URL(other)), {}, other);
    assert.equal(opts.trusted!(new URL(other)), false, other);
  }
  assert.deepEqual(hubOptions({ ...ref, token: null }).headers!(new URL("https://hub.example/x")), {});
});

Deno.test("nextPage() reads rel=next from a Link header", () => {
  const base = new URL("https://hub.example/api/datasets/org/toy/tree/main");
  assert.equal(
    nextPage('<https://hub.example/api/x?cursor=2>; rel="next", <https://hub.example/a>; rel="prev"', base)
      ?.href,
    "https://hub.example/api/x?cursor=2",
  );
  assert.equal(nextPage('<https://hub.example/a>; rel="prev"', base), null);
  assert.equal(nextPage(null, base), null);
});
