"""The Python classes' side of the drift check, in the shape of protocol/schema/*.json.

`python_schemas()` returns {file name: JSON Schema} for the task models (pydantic's own JSON Schema)
and for each synapse's own fields (the bittensor envelope left out) with `x-required-hash-fields` and
`x-float-fields`. Run as a script it prints them as one JSON object (the Deno drift test reads it).
"""

from __future__ import annotations

import json
import os
import sys
import types
import typing
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import bittensor as bt
from pydantic import TypeAdapter
from satori_protocol import SYNAPSES, TASK_REQUEST, TaskState

ENVELOPE = set(bt.Synapse.model_fields)


def is_float(annotation: object) -> bool:
    """Whether a field holds a Python float (alone or in `float | None`)."""
    if annotation is float:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(a is float for a in typing.get_args(annotation))
    return False


def synapse_schema(cls: type[bt.Synapse]) -> dict[str, Any]:
    full = cls.model_json_schema(mode="validation")
    own = [name for name in cls.model_fields if name not in ENVELOPE]
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: full["properties"][name] for name in own},
        "x-required-hash-fields": list(cls.required_hash_fields),
        "x-float-fields": [n for n in own if is_float(cls.model_fields[n].annotation)],
    }
    required = [n for n in full.get("required", []) if n in own]
    if required:
        schema["required"] = required
    if "$defs" in full:
        schema["$defs"] = full["$defs"]
    return schema


def python_schemas() -> dict[str, Any]:
    return {
        "task_request.schema.json": TASK_REQUEST.json_schema(mode="validation"),
        "task_state.schema.json": TypeAdapter(TaskState).json_schema(),
        "synapses.schema.json": {
            "synapses": {name: synapse_schema(cls) for name, cls in SYNAPSES.items()}
        },
    }


if __name__ == "__main__":
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # bittensor may log to stdout: keep it for the JSON only
    json.dump(python_schemas(), out)
    out.close()
