"""The drift check: the Python classes against the JSON Schema generated from the miner's zod schemas.

protocol/schema/*.json come from scripts/gen_schema.ts (`deno task schema`). Each test flattens both
sides into one row per field (schema_table.py) and fails listing every field that differs: name,
JSON type, optionality, default, bounds, and for synapses `required_hash_fields` and float fields.
Runs under pytest, or as a script (`.venv-bt/bin/python protocol/tests/test_schema.py`), which is how
tests/protocol_schema_test.ts runs it.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))

from python_schema import python_schemas
from schema_table import differences, rows_of

SCHEMA_DIR = os.path.join(os.path.dirname(__file__), "..", "schema")
FILES = ("task_request.schema.json", "task_state.schema.json", "synapses.schema.json")


def generated(name: str) -> dict[str, Any]:
    with open(os.path.join(SCHEMA_DIR, name)) as f:
        return json.load(f)


def check(name: str) -> list[str]:
    return differences(
        rows_of(name, generated(name)), rows_of(name, python_schemas()[name])
    )


def test_task_request_matches_zod() -> None:
    assert check("task_request.schema.json") == []


def test_task_state_matches_zod() -> None:
    assert check("task_state.schema.json") == []


def test_synapses_match_zod() -> None:
    assert check("synapses.schema.json") == []


def test_differences_names_a_changed_default_and_a_missing_field() -> None:
    python = python_schemas()["task_request.schema.json"]
    zod = copy.deepcopy(generated("task_request.schema.json"))
    text = zod["oneOf"][0]["properties"]
    text["gpus"]["default"] = 2
    text["dataset"]["oneOf"][1]["properties"]["mirror"] = {"type": "string"}
    lines = differences(rows_of("x", zod), rows_of("x", python))
    assert [line.split(":")[0] for line in lines] == [
        "<type=text>.dataset<kind=url>.mirror",
        "<type=text>.gpus",
    ]


def test_differences_names_a_changed_hash_field() -> None:
    zod = copy.deepcopy(generated("synapses.schema.json"))
    zod["synapses"]["TaskStatus"]["x-required-hash-fields"] = []
    lines = differences(
        rows_of("synapses.schema.json", zod),
        rows_of("synapses.schema.json", python_schemas()["synapses.schema.json"]),
    )
    assert [line.split(":")[0] for line in lines] == ["TaskStatus#required_hash_fields"]


def main() -> int:
    failed = 0
    for name, fn in list(globals().items()):
        if name.startswith("test_") and callable(fn):
            try:
                fn()
                print(f"ok   {name}")
            except AssertionError:
                failed += 1
                print(f"FAIL {name}")
    for f in FILES:  # the differences themselves, one line per field
        for line in check(f):
            print(f"  {f}: {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
