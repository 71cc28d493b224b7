/**
 * A validator installs the package the ordinary way, `pip install ./protocol`, into the venv that holds
 * its SDK, and keeps that SDK: 11.3.0 stays 11.3.0, 10.5.0 stays 10.5.0 (an upper pin `<11` once made
 * pip downgrade 11.x silently). Each run copies the venv (`cp -a`: a venv found through its own
 * bin/python keeps working at a new path) and the package into a temporary folder, so neither the
 * checkout nor the shared venvs change; pip fetches only the build backend (PyPI or its cache).
 */
import assert from "node:assert/strict";
import { pinnedSdk, requireVenv, runPython, SDK_VENVS } from "./protocol_venvs.ts";

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);

async function copy(from: string, to: string): Promise<void> {
  const out = await new Deno.Command("cp", { args: ["-a", from, to], stderr: "piped" }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
}

const PROBE = [
  "import importlib.metadata as m, json, satori_protocol as s",
  "print(json.dumps({'sdk': m.version('bittensor'), 'package': m.version('satori-protocol'),",
  "  'file': s.__file__, 'transport': s.default_transport(), 'synapses': 'TrainingTask' in s.__all__}))",
].join("\n");

for (const venv of SDK_VENVS) {
  Deno.test(`pip install ./protocol leaves the bittensor of ${venv.dir} as pinned`, async () => {
    await requireVenv(venv);
    const sdk = await pinnedSdk(venv);
    const tmp = await Deno.makeTempDir({ prefix: "protocol-install-" });
    try {
      await copy(`${ROOT}${venv.dir}`, `${tmp}/venv`);
      await copy(`${ROOT}protocol`, `${tmp}/protocol`);
      for (const built of ["build", "satori_protocol.egg-info"]) {
        await Deno.remove(`${tmp}/protocol/${built}`, { recursive: true }).catch(() => {});
      }
      const python = `${tmp}/venv/bin/python`;
      const pip = await runPython(python, ["-m", "pip", "install", "./protocol"], {
        cwd: tmp,
        timeoutMs: 240_000,
      });
      // This machine's pip config lists local indexes that may be absent: their warnings are noise here.
      const said = (pip.stdout + pip.stderr).split("\n").filter((l) => !l.startsWith("WARNING: Location"))
        .join("\n");
      assert.equal(pip.code, 0, said.slice(-3000));
      assert.doesNotMatch(said, /Uninstalling bittensor/, said.slice(-3000));

      // Imported from outside the checkout: the installed copy, on the SDK it found.
      const probe = await runPython(python, ["-c", PROBE], { cwd: tmp });
      assert.equal(probe.code, 0, probe.stderr.slice(-2000));
      const seen = JSON.parse(probe.stdout.trim().split("\n").at(-1)!);
      assert.equal(seen.sdk, sdk);
      assert.ok(seen.file.startsWith(`${tmp}/venv/`), seen.file);
      const project = await Deno.readTextFile(`${ROOT}protocol/pyproject.toml`);
      assert.equal(seen.package, project.match(/^version = "(.+)"$/m)?.[1]);
      assert.deepEqual(
        [seen.transport, seen.synapses],
        venv.generation === "10" ? ["synapse", true] : ["btauth", false],
      );
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  });
}
