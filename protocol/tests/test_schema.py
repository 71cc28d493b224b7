"""The drift check: the Python classes against the JSON Schema generated from the miner's zod schemas.

protocol/schema/*.json come from scripts/gen_schema.ts (`deno task schema`). Each test flattens both
sides into one row per field (schema_table.py) and fails listing every field that differs: name,
JSON type, optionality, default, bounds, and for synapses `required_hash_fields` and float fields.
The client's result models are checked against the synapses' reply fields, on either SDK; the
synapse classes themselves only where bittensor 10.x has `Synapse` (on 11.x those tests say "skip").
Runs under pytest, or as a script (`.venv-bt/bin/python protocol/tests/test_schema.py`, and the same
with .venv-bt11), which is how tests/protocol_schema_test.ts runs it.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))

from python_schema import json_types, python_schemas, reply_types
from satori_protocol import HAS_SYNAPSE
from schema_table import differences, rows_of

SCHEMA_DIR = os.path.join(os.path.dirname(__file__), "..", "schema")
FILES = ("task_request.schema.json", "task_state.schema.json", "synapses.schema.json")
# result model -> (the synapse whose reply it carries, whether it holds every reply field);
# TrainingTask's accepted/reason/message become a SatoriError instead.
REPLIES = {
    "Submitted": ("TrainingTask", False),
    "TaskInfo": ("TaskStatus", True),
    "CapacityInfo": ("Capacity", True),
}


class Skip(Exception):
    """This check needs the synapse classes, which bittensor 11.x cannot have."""


def needs_synapses() -> None:
    if not HAS_SYNAPSE:
        try:
            import pytest
        except ImportError:
            raise Skip() from None
        pytest.skip("bittensor 11.x has no Synapse")


def generated(name: str) -> dict[str, Any]:
    with open(os.path.join(SCHEMA_DIR, name)) as f:
        return json.load(f)


def check(name: str) -> list[str]:
    return differences(
        rows_of(name, generated(name)), rows_of(name, python_schemas()[name])
    )


def reply_differences(
    synapses: dict[str, Any], replies: dict[str, dict[str, list[str]]]
) -> list[str]:
    """One line per result field that is not its synapse's reply field of the same JSON type."""
    lines = []
    for model, (synapse, complete) in REPLIES.items():
        zod = {
            name: json_types(prop)
            for name, prop in synapses["synapses"][synapse]["properties"].items()
        }
        ours = replies[model]
        for name, types in ours.items():
            if name not in zod:
                lines.append(f"{model}.{name}: not a field of the {synapse} synapse")
            elif zod[name] != types:
                lines.append(f"{model}.{name}: zod {zod[name]} != Python {types}")
        if complete:
            lines += [
                f"{model}.{name}: missing (the {synapse} synapse replies it)"
                for name in zod.keys() - ours.keys()
            ]
    return sorted(lines)


def test_task_request_matches_zod() -> None:
    assert check("task_request.schema.json") == []


def test_task_state_matches_zod() -> None:
    assert check("task_state.schema.json") == []


def test_synapses_match_zod() -> None:
    needs_synapses()
    assert check("synapses.schema.json") == []


def test_client_results_match_the_synapse_replies() -> None:
    assert reply_differences(generated("synapses.schema.json"), reply_types()) == []


def test_reply_differences_names_a_missing_and_a_retyped_field() -> None:
    zod = copy.deepcopy(generated("synapses.schema.json"))
    zod["synapses"]["Capacity"]["properties"]["queue_max"] = {"type": "string"}
    zod["synapses"]["TaskStatus"]["properties"]["eta_s"] = {"type": "number"}
    lines = reply_differences(zod, reply_types())
    assert [line.split(":")[0] for line in lines] == [
        "CapacityInfo.queue_max",
        "TaskInfo.eta_s",
    ]


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
    needs_synapses()
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
            except Skip:
                print(f"skip {name} (bittensor 11.x has no Synapse)")
            except AssertionError:
                failed += 1
                print(f"FAIL {name}")
    for f in FILES if HAS_SYNAPSE else FILES[:2]:  # the differences, one line per field
        for line in check(f):
            print(f"  {f}: {line}")
    for line in reply_differences(generated("synapses.schema.json"), reply_types()):
        print(f"  results: {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
