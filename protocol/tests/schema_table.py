"""Flattens a JSON Schema into one row per field, so zod's and pydantic's schemas compare field by field.

A path names a field: `<type=text>.training.hyperparameters.rank`, `dataset<kind=url>.url`, `[]` for
array items. A row holds what a validator can rely on: JSON types (with "null"), whether the field is
required, its default (scalars and lists; an object default is checked through its own fields), const
or enum, and the bounds. What differs only in spelling is made equal: `$ref`s, `anyOf [X, null]` vs
`type: [X, "null"]`, zod's safe-integer bounds, titles and descriptions, and `const`'s numeric type.
"""

from __future__ import annotations

from typing import Any

SAFE_INT = 9007199254740991
BOUNDS = (
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
)

Row = dict[str, Any]


def flatten(schema: dict[str, Any]) -> dict[str, Row]:
    """Every field of `schema` (a union, an object or a scalar) as {path: row}."""
    table: dict[str, Row] = {}
    _walk(schema, schema.get("$defs", {}), "", {"required": True}, table)
    return table


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = defs[node["$ref"].rsplit("/", 1)[-1]]
        node = {**ref, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _variants(node: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    for key in ("anyOf", "oneOf"):
        if key in node:
            return [_resolve(v, defs) for v in node[key]]
    return [node]


def _walk(
    node: dict[str, Any], defs: dict[str, Any], path: str, row: Row, out: dict[str, Row]
) -> None:
    node = _resolve(node, defs)
    variants = _variants(node, defs)
    types: set[str] = set()
    real = []
    for v in variants:
        t = v.get("type")
        names = t if isinstance(t, list) else [t] if t else []
        if names == ["null"]:
            types.add("null")
            continue
        if "null" in names:
            types.add("null")
            v = {**v, "type": next(n for n in names if n != "null")}
        real.append(v)
    if "default" in node and not isinstance(node["default"], dict):
        row["default"] = node["default"]
    if len(real) > 1:  # a union of objects told apart by a const field
        tag = _discriminator(real, defs)
        row["type"] = sorted(types | {"object"})
        out[path or "(root)"] = row
        for v in real:
            value = _resolve(v["properties"][tag], defs)["const"]
            _walk(v, defs, f"{path}<{tag}={value}>", {"required": True}, out)
        return
    v = real[0] if real else {}
    if "const" in v:
        row["const"] = v["const"]
    elif "enum" in v:
        row["enum"] = sorted(v["enum"])
    elif "type" in v:
        types.add(v["type"])
    row["type"] = sorted(types)
    for key in BOUNDS:
        if key in v and not (key in ("minimum", "maximum") and abs(v[key]) == SAFE_INT):
            row[key] = v[key]
    out[path or "(root)"] = row
    if v.get("type") == "array" and "items" in v:
        _walk(v["items"], defs, f"{path}[]", {"required": True}, out)
    if v.get("type") == "object" and "properties" in v:
        row["closed"] = v.get("additionalProperties") is False
        required = set(v.get("required", []))
        for key, prop in v["properties"].items():
            sub = f"{path}.{key}" if path else key
            _walk(prop, defs, sub, {"required": key in required}, out)


def _discriminator(variants: list[dict[str, Any]], defs: dict[str, Any]) -> str:
    first = variants[0].get("properties", {})
    for key in first:
        if all(
            "const" in _resolve(v.get("properties", {}).get(key, {}), defs)
            for v in variants
        ):
            return key
    raise ValueError(
        f"Cannot compare a union without a const discriminator: {sorted(first)}"
    )


def synapse_rows(document: dict[str, Any]) -> dict[str, Row]:
    """synapses.schema.json as rows: `TrainingTask.task`, plus each class's hash and float fields."""
    table: dict[str, Row] = {}
    for name, schema in document["synapses"].items():
        rows = flatten(schema)
        rows.pop("(root)")
        table.update({f"{name}.{k}": v for k, v in rows.items()})
        table[f"{name}#required_hash_fields"] = {
            "value": schema["x-required-hash-fields"]
        }
        table[f"{name}#float_fields"] = {"value": sorted(schema["x-float-fields"])}
    return table


def rows_of(name: str, document: dict[str, Any]) -> dict[str, Row]:
    """The rows of one protocol/schema/*.json document, by its file name."""
    return (
        synapse_rows(document) if name == "synapses.schema.json" else flatten(document)
    )


def differences(zod: dict[str, Row], python: dict[str, Row]) -> list[str]:
    """One line per field that differs, is missing in Python, or exists only in Python."""
    lines = []
    for path in sorted(zod.keys() | python.keys()):
        if path not in python:
            lines.append(f"{path}: missing in the Python classes (zod: {zod[path]})")
        elif path not in zod:
            lines.append(f"{path}: only in the Python classes ({python[path]})")
        elif not _same(zod[path], python[path]):
            lines.append(f"{path}: zod {zod[path]} != Python {python[path]}")
    return lines


def _same(a: object, b: object) -> bool:
    """Equality where 1 == 1.0 (JSON Schema numbers) but True != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b
