"""The Python classes' side of the drift check, in the shape of protocol/schema/*.json.

`python_schemas()` returns {file name: JSON Schema} for the task models (pydantic's own JSON Schema)
and, on bittensor 10.x, for each synapse's own fields (the bittensor envelope left out) with
`x-required-hash-fields` and `x-float-fields`; bittensor 11.x has no Synapse, so there the synapse
file is left out. `reply_types()` gives the client's result models (`Submitted`, `TaskInfo`,
`CapacityInfo`) as {field: JSON types}, on both. Run as a script it prints the schemas as one JSON
object (the Deno drift test reads it).
"""

from __future__ import annotations

import json
import os
import sys
import types
import typing
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from pydantic import BaseModel, TypeAdapter
from satori_protocol import (
    HAS_SYNAPSE,
    TASK_REQUEST,
    CapacityInfo,
    Submitted,
    TaskInfo,
    TaskState,
)


def is_float(annotation: object) -> bool:
    """Whether a field holds a Python float (alone or in `float | None`)."""
    if annotation is float:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(a is float for a in typing.get_args(annotation))
    return False


def synapse_schema(cls: type[BaseModel]) -> dict[str, Any]:
    import bittensor as bt

    envelope = set(bt.Synapse.model_fields)
    full = cls.model_json_schema(mode="validation")
    own = [name for name in cls.model_fields if name not in envelope]
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: full["properties"][name] for name in own},
        "x-required-hash-fields": list(cls.required_hash_fields),  # type: ignore[attr-defined]
        "x-float-fields": [n for n in own if is_float(cls.model_fields[n].annotation)],
    }
    required = [n for n in full.get("required", []) if n in own]
    if required:
        schema["required"] = required
    if "$defs" in full:
        schema["$defs"] = full["$defs"]
    return schema


def python_schemas() -> dict[str, Any]:
    schemas = {
        "task_request.schema.json": TASK_REQUEST.json_schema(mode="validation"),
        "task_state.schema.json": TypeAdapter(TaskState).json_schema(),
    }
    if HAS_SYNAPSE:
        from satori_protocol import SYNAPSES

        schemas["synapses.schema.json"] = {
            "synapses": {name: synapse_schema(cls) for name, cls in SYNAPSES.items()}
        }
    return schemas


def json_types(node: dict[str, Any]) -> list[str]:
    """The JSON types a property holds, "null" left out (an enum of strings is "string")."""
    types: set[str] = set()
    for v in node.get("anyOf", [node]):
        t = v.get("type", "string" if "enum" in v else None)
        types.update(t if isinstance(t, list) else [t] if t else [])
    return sorted(types - {"null"})


def reply_types() -> dict[str, dict[str, list[str]]]:
    """{result model: {field: JSON types}} for the client's results."""
    out = {}
    for model in (Submitted, TaskInfo, CapacityInfo):
        props = model.model_json_schema()["properties"]
        out[model.__name__] = {name: json_types(p) for name, p in props.items()}
    return out


if __name__ == "__main__":
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # bittensor may log to stdout: keep it for the JSON only
    json.dump(python_schemas(), out)
    out.close()
