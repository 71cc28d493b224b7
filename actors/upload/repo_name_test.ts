import assert from "node:assert/strict";
import fc from "fast-check";
import { TaskId } from "../../core/task.ts";
import { isValidRepoName, MAX_REPO_NAME, repoIdFor, repoNameFor } from "./repo_name.ts";

Deno.test("repoIdFor() keeps a plain task id readable", () => {
  assert.equal(repoIdFor("alice", "text", "t-42"), "alice/satori-text-lora-t-42");
  assert.equal(repoIdFor("org", "image", "Job_7.b"), "org/satori-image-lora-Job_7.b");
});

Deno.test("repoNameFor() tags an altered or cut id with a hash, so distinct ids never share a repo", () => {
  const a = repoNameFor("text", "a..b");
  const b = repoNameFor("text", "a.b");
  assert.notEqual(a, b);
  assert.match(a, /^satori-text-lora-a\.b-[0-9a-f]{8}$/);
  const long = repoNameFor("image", "x".repeat(128));
  assert.equal(long.length, MAX_REPO_NAME);
  assert.notEqual(long, repoNameFor("image", "x".repeat(127)));
  assert.equal(repoNameFor("text", "task.git"), repoNameFor("text", "task.git"));
  assert.ok(isValidRepoName(repoNameFor("text", "task.git")));
});

Deno.test("repoNameFor() gives a valid, deterministic name for every valid task id", () => {
  const id = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/).filter((s) =>
    TaskId.safeParse(s).success
  );
  fc.assert(
    fc.property(id, fc.constantFrom("text" as const, "image" as const), (taskId, type) => {
      const name = repoNameFor(type, taskId);
      assert.ok(isValidRepoName(name), name);
      assert.equal(repoNameFor(type, taskId), name);
    }),
    { numRuns: 500 },
  );
});

Deno.test("isValidRepoName() refuses what the Hub refuses", () => {
  for (const bad of ["", "-a", "a-", "a--b", "a..b", "a.git", "a/b", "a b", "x".repeat(97)]) {
    assert.equal(isValidRepoName(bad), false, bad);
  }
});
