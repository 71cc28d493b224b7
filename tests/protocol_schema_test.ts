/**
 * The validators' protocol cannot drift from the miner: protocol/schema/*.json are what
 * scripts/gen_schema.ts makes from the zod schemas now, and the Python classes (protocol/satori_protocol,
 * read through pydantic) match them field by field: names, JSON types, optionality, defaults, bounds,
 * `required_hash_fields` and float fields. Both validator venvs are checked: .venv-bt (bittensor 10.x,
 * with the synapse classes) and .venv-bt11 (11.x, which has no Synapse: the task models, and the
 * client's results against the synapse replies). The pytest side (protocol/tests/test_schema.py) checks
 * the same with its own flattening.
 */
import assert from "node:assert/strict";
import { protocolSchemas } from "../scripts/gen_schema.ts";
import { type Row, rowsOf } from "./protocol_schema_table.ts";
import { requireVenv, runPython, SDK_VENVS } from "./protocol_venvs.ts";

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);
const FILES = ["task_request.schema.json", "task_state.schema.json", "synapses.schema.json"];

/** One line per field that differs between the two tables. */
function differences(zod: Record<string, Row>, py: Record<string, Row>): string[] {
  const paths = [...new Set([...Object.keys(zod), ...Object.keys(py)])].sort();
  return paths.flatMap((p) => {
    if (!(p in py)) return [`${p}: missing in the Python classes (zod: ${JSON.stringify(zod[p])})`];
    if (!(p in zod)) return [`${p}: only in the Python classes (${JSON.stringify(py[p])})`];
    try {
      assert.deepStrictEqual(py[p], zod[p]);
      return [];
    } catch {
      return [`${p}: zod ${JSON.stringify(zod[p])} != Python ${JSON.stringify(py[p])}`];
    }
  });
}

const generated = protocolSchemas() as Record<string, Record<string, never>>;

Deno.test("protocol/schema/*.json hold what gen_schema makes from the zod schemas now", async () => {
  for (const file of FILES) {
    const onDisk = JSON.parse(await Deno.readTextFile(`${ROOT}protocol/schema/${file}`));
    assert.deepStrictEqual(
      onDisk,
      generated[file],
      `protocol/schema/${file} is stale: run "deno task schema"`,
    );
  }
});

for (const venv of SDK_VENVS) {
  // bittensor 11.x has no Synapse, so there the synapse classes do not exist to compare.
  const files = venv.generation === "10" ? FILES : FILES.filter((f) => f !== "synapses.schema.json");
  Deno.test(`Python protocol classes match the zod schemas field by field in ${venv.dir}`, async (t) => {
    await requireVenv(venv);
    const res = await runPython(venv.python, ["protocol/tests/python_schema.py"]);
    assert.equal(res.code, 0, res.stderr.slice(-2000));
    const pySchemas = JSON.parse(res.stdout) as Record<string, Record<string, never>>;
    assert.deepEqual(Object.keys(pySchemas).sort(), [...files].sort());
    for (const file of files) {
      await t.step(file, () => {
        const zod = rowsOf(file, generated[file]);
        assert.ok(Object.keys(zod).length > 0);
        assert.deepEqual(differences(zod, rowsOf(file, pySchemas[file])), []);
      });
    }
  });

  Deno.test(`protocol/tests/test_schema.py passes in ${venv.dir}`, async () => {
    await requireVenv(venv);
    const res = await runPython(venv.python, ["protocol/tests/test_schema.py"]);
    assert.equal(res.code, 0, res.stdout + res.stderr.slice(-2000));
    const skipped = [...res.stdout.matchAll(/^skip (\w+)/gm)].map((m) => m[1]);
    assert.deepEqual(
      skipped,
      venv.generation === "10"
        ? []
        : ["test_synapses_match_zod", "test_differences_names_a_changed_hash_field"],
    );
  });
}

Deno.test("differences() names each field that drifted", () => {
  const zod = structuredClone(generated["synapses.schema.json"]) as Record<string, never>;
  // deno-lint-ignore no-explicit-any
  const synapses = (zod as any).synapses;
  const py = structuredClone(zod) as Record<string, never>;
  // deno-lint-ignore no-explicit-any
  const p = (py as any).synapses;
  p.TaskStatus.properties.progress = { anyOf: [{ type: "integer" }, { type: "null" }], default: null };
  p.TrainingTask["x-required-hash-fields"] = [];
  delete p.Capacity.properties.queue_max;
  synapses.Capacity.properties.total_gpus.default = 0;
  assert.deepEqual(
    differences(rowsOf("synapses.schema.json", zod), rowsOf("synapses.schema.json", py)).map((l) =>
      l.split(":")[0]
    ),
    ["Capacity.queue_max", "Capacity.total_gpus", "TaskStatus.progress", "TrainingTask#required_hash_fields"],
  );
});
