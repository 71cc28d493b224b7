import assert from "node:assert/strict";
import { unzipSync } from "fflate";
import { trainerPackage } from "./trainer_package.ts";

const repoRoot = new URL("../..", import.meta.url).pathname;

/** A tiny trainer tree with the things the package must leave out. */
async function fakeRepo(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "trainer-pkg-" });
  const files: Record<string, string> = {
    "trainer/__main__.py": "print('main')\n",
    "trainer/modes.json": "{}\n",
    "trainer/schema/events.schema.json": "{}\n",
    "trainer/tests/test_x.py": "def test(): pass\n",
    "trainer/__pycache__/modes.cpython-311.pyc": "x",
    "trainer/schema/__pycache__/a.pyc": "x",
    "trainer/stray.pyc": "x",
    "trainer/.ruff_cache/CACHEDIR.TAG": "x",
  };
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(`${root}/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
    await Deno.writeTextFile(`${root}/${path}`, text);
  }
  return root;
}

Deno.test("trainerPackage() gives identical bytes and name for the same code", async () => {
  const a = await trainerPackage(repoRoot);
  const b = await trainerPackage(repoRoot);
  assert.deepEqual(a.bytes, b.bytes);
  assert.equal(a.name, b.name);
  assert.match(a.name, /^_ray_pkg_[0-9a-f]{32}\.zip$/);
  assert.equal(a.uri, `gcs://${a.name}`);
});

Deno.test("trainerPackage() holds the trainer and the marker, not tests or caches, in sorted order", async () => {
  const pkg = await trainerPackage(repoRoot);
  const paths = Object.keys(unzipSync(pkg.bytes));
  assert.ok(paths.includes("trainer/__main__.py"));
  assert.ok(paths.includes("trainer/modes.json"));
  assert.ok(paths.includes("satori_package.json"));
  assert.deepEqual(paths.filter((p) => /(^|\/)(tests|__pycache__|\.ruff_cache)\/|\.pyc$/.test(p)), []);
  assert.deepEqual(paths, [...paths].sort());
});

Deno.test("trainerPackage() leaves out tests/, __pycache__/, *.pyc and .ruff_cache at any depth", async () => {
  const root = await fakeRepo();
  try {
    const files = unzipSync((await trainerPackage(root)).bytes);
    assert.deepEqual(Object.keys(files), [
      "satori_package.json",
      "trainer/__main__.py",
      "trainer/modes.json",
      "trainer/schema/events.schema.json",
    ]);
    const marker = JSON.parse(new TextDecoder().decode(files["satori_package.json"]));
    assert.deepEqual(marker, { package: "satori-trainer", files: 3 });
    assert.equal(new TextDecoder().decode(files["trainer/__main__.py"]), "print('main')\n");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("trainerPackage() names changed code differently", async () => {
  const root = await fakeRepo();
  try {
    const before = await trainerPackage(root);
    await Deno.writeTextFile(`${root}/trainer/modes.json`, '{"changed": true}\n');
    assert.notEqual((await trainerPackage(root)).name, before.name);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("trainerPackage() gives the same name in every time zone", async () => {
  const root = await fakeRepo();
  try {
    const script = `import { trainerPackage } from ${
      JSON.stringify(new URL("./trainer_package.ts", import.meta.url).href)
    };
      console.log((await trainerPackage(${JSON.stringify(root)})).name);`;
    const names = await Promise.all(["UTC", "Pacific/Chatham", "America/St_Johns"].map(async (tz) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--config", `${repoRoot}/deno.json`, script],
        env: { TZ: tz },
        stdout: "piped",
      }).output();
      assert.ok(out.success, `deno eval under TZ=${tz} failed`);
      return new TextDecoder().decode(out.stdout).trim();
    }));
    assert.equal(names[0], (await trainerPackage(root)).name);
    assert.deepEqual(new Set(names).size, 1);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("trainerPackage() fails clearly when the folder has no trainer", async () => {
  const root = await Deno.makeTempDir({ prefix: "trainer-pkg-" });
  try {
    await Deno.mkdir(`${root}/trainer`);
    await assert.rejects(() => trainerPackage(root), /holds no files/);
    await assert.rejects(() => trainerPackage(`${root}/missing`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
