/**
 * Flattens a JSON Schema into one row per field (the TypeScript twin of protocol/tests/schema_table.py),
 * so the zod schemas and the Python classes' pydantic schemas compare field by field. Paths:
 * `<type=text>.training.hyperparameters.rank`, `dataset<kind=url>.url`, `[]` for array items. Spelling
 * differences are made equal: `$ref`, `anyOf [X, null]` vs `type: [X, "null"]`, zod's safe-integer
 * bounds, titles and descriptions, object defaults (checked through their own fields).
 */
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Node = { [key: string]: Json };
export type Row = Record<string, Json>;

const SAFE_INT = 9007199254740991;
const BOUNDS = [
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "minLength",
  "maxLength",
  "pattern",
  "minItems",
  "maxItems",
  "format",
];

/** Every field of `schema` as {path: row}, sorted by path. */
export function flatten(schema: Node): Record<string, Row> {
  const out: Record<string, Row> = {};
  walk(schema, (schema.$defs ?? {}) as Record<string, Node>, "", { required: true }, out);
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function resolve(node: Node, defs: Record<string, Node>): Node {
  while (typeof node.$ref === "string") {
    const { $ref, ...rest } = node;
    node = { ...defs[($ref as string).split("/").at(-1)!], ...rest };
  }
  return node;
}

function walk(raw: Node, defs: Record<string, Node>, path: string, row: Row, out: Record<string, Row>): void {
  const node = resolve(raw, defs);
  const union = (node.anyOf ?? node.oneOf ?? [node]) as Node[];
  const types = new Set<string>();
  const real: Node[] = [];
  for (const r of union) {
    let v = resolve(r, defs);
    const names = Array.isArray(v.type) ? v.type as string[] : v.type ? [v.type as string] : [];
    if (names.length === 1 && names[0] === "null") {
      types.add("null");
      continue;
    }
    if (names.includes("null")) {
      types.add("null");
      v = { ...v, type: names.filter((n) => n !== "null")[0] };
    }
    real.push(v);
  }
  if ("default" in node && !isObject(node.default)) row.default = node.default;
  const key = path || "(root)";
  if (real.length > 1) {
    const tag = discriminator(real, defs);
    row.type = [...types, "object"].sort();
    out[key] = row;
    for (const v of real) {
      const value = resolve((v.properties as Record<string, Node>)[tag], defs).const;
      walk(v, defs, `${path}<${tag}=${value}>`, { required: true }, out);
    }
    return;
  }
  const v = real[0] ?? {};
  if ("const" in v) row.const = v.const;
  else if (Array.isArray(v.enum)) row.enum = [...v.enum as string[]].sort();
  else if (typeof v.type === "string") types.add(v.type);
  row.type = [...types].sort();
  for (const b of BOUNDS) {
    if (b in v && !((b === "minimum" || b === "maximum") && Math.abs(v[b] as number) === SAFE_INT)) {
      row[b] = v[b];
    }
  }
  out[key] = row;
  if (v.type === "array" && isObject(v.items)) {
    walk(v.items as Node, defs, `${path}[]`, { required: true }, out);
  }
  if (v.type === "object" && isObject(v.properties)) {
    row.closed = v.additionalProperties === false;
    const required = new Set((v.required ?? []) as string[]);
    for (const [k, prop] of Object.entries(v.properties as Record<string, Node>)) {
      walk(prop, defs, path ? `${path}.${k}` : k, { required: required.has(k) }, out);
    }
  }
}

function isObject(x: Json | undefined): boolean {
  return x !== null && typeof x === "object" && !Array.isArray(x);
}

function discriminator(variants: Node[], defs: Record<string, Node>): string {
  const props = (v: Node) => (v.properties ?? {}) as Record<string, Node>;
  const tag = Object.keys(props(variants[0])).find((k) =>
    variants.every((v) => props(v)[k] !== undefined && "const" in resolve(props(v)[k], defs))
  );
  if (tag === undefined) throw new Error("Cannot compare a union without a const discriminator");
  return tag;
}

/** synapses.schema.json as rows: `TrainingTask.task`, `TaskStatus#required_hash_fields`, ... */
export function synapseRows(document: Node): Record<string, Row> {
  const out: Record<string, Row> = {};
  for (const [name, schema] of Object.entries(document.synapses as Record<string, Node>)) {
    const { "(root)": _, ...rows } = flatten(schema);
    for (const [k, v] of Object.entries(rows)) out[`${name}.${k}`] = v;
    out[`${name}#required_hash_fields`] = { value: schema["x-required-hash-fields"] };
    out[`${name}#float_fields`] = { value: [...schema["x-float-fields"] as string[]].sort() };
  }
  return out;
}

/** The rows of one protocol/schema/*.json document, by its file name. */
export function rowsOf(file: string, document: Node): Record<string, Row> {
  return file === "synapses.schema.json" ? synapseRows(document) : flatten(document);
}
