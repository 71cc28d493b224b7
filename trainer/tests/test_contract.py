"""Drift guards between the Python mirror and the zod contract (core/training.ts), through the JSON Schemas
that `deno task schema` writes to trainer/schema/, plus the shared events fixture."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

import pytest

from trainer.config import ImageTrainingSpec, TextTrainingSpec, parse_spec
from trainer.errors import ErrorCode, TrainerError
from trainer.events import EVENT_FIELDS

from .conftest import EVENTS, SCHEMA_DIR, check_event

SPEC_SCHEMA = json.loads((SCHEMA_DIR / "training_spec.schema.json").read_text())
EVENT_SCHEMA = json.loads((SCHEMA_DIR / "events.schema.json").read_text())
FIXTURE = Path(__file__).parent / "fixtures" / "events.jsonl"
KIND_TYPES = {
    "int": "integer",
    "number": "number",
    "bool": "boolean",
    "str": "string",
    "enum": "string",
    "str_list": "array",
    "object": "object",
}
BOUNDS = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "minItems", "minLength")
SAFE_MAX = 9007199254740991


def variant(kind: str) -> dict[str, Any]:
    [found] = [v for v in SPEC_SCHEMA["oneOf"] if v["properties"]["type"]["const"] == kind]
    return found


def non_null(prop: dict[str, Any]) -> dict[str, Any]:
    if "anyOf" in prop:
        [branch] = [b for b in prop["anyOf"] if b.get("type") != "null"]
        return {**branch, "nullable": True}
    if isinstance(prop.get("type"), list):
        return {**prop, "type": next(t for t in prop["type"] if t != "null"), "nullable": True}
    return prop


def compare(cls: type, schema: dict[str, Any], path: str) -> None:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    assert set(fields) == set(schema["properties"]), path
    required = {
        n for n, f in fields.items() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    schema_required = set(schema.get("required", [])) - {n for n, p in schema["properties"].items() if "default" in p}
    if "type" in fields:  # the discriminator: required in the schema, preset per dataclass (parse_spec picks it)
        assert "type" in schema_required
        schema_required.discard("type")
    assert required == schema_required, path
    instance_defaults = {}
    for name, f in fields.items():
        prop = non_null(schema["properties"][name])
        meta = dict(f.metadata)
        where = f"{path}.{name}"
        if f.default is not dataclasses.MISSING:
            instance_defaults[name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
            instance_defaults[name] = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
        if ("default" in prop or name in instance_defaults) and name != "type":
            assert prop.get("default") == instance_defaults.get(name), where
        if "const" in prop:
            assert meta.get("enum", (meta.get("maximum"),)) in ((prop["const"],), [prop["const"]]), where
        if meta["kind"] == "object":
            compare(type(f.default_factory()), prop, where)  # type: ignore[misc]
            continue
        expected_type = "number" if "const" in prop and meta["kind"] == "int" else KIND_TYPES[meta["kind"]]
        assert prop["type"] == expected_type, where
        assert bool(prop.get("nullable")) == bool(meta.get("nullable")), where
        if "enum" in prop:
            assert tuple(prop["enum"]) == tuple(meta["enum"]), where
        for bound in BOUNDS:
            if bound in prop and prop[bound] != SAFE_MAX and not (bound == "minLength" and name == "task_id"):
                assert meta.get(bound) == prop[bound], f"{where} {bound}"
            elif bound not in prop and "const" not in prop:
                assert bound not in meta, f"{where} {bound}"


@pytest.mark.parametrize(("cls", "kind"), [(TextTrainingSpec, "text"), (ImageTrainingSpec, "image")])
def test_spec_dataclasses_match_training_spec_schema(cls: type, kind: str) -> None:
    compare(cls, variant(kind), kind)


def test_event_fields_match_events_schema() -> None:
    schema = {v["properties"]["type"]["const"]: v for v in EVENT_SCHEMA["oneOf"]}
    assert set(schema) == set(EVENT_FIELDS)
    for name, fields in EVENT_FIELDS.items():
        assert set(schema[name]["properties"]) == {"type", "time", *fields}, name
        assert schema[name]["additionalProperties"] is False


def schema_error_codes() -> list[str]:
    """`TrainerErrorCode` (core/training.ts) as the events schema carries it: the `error` event's code enum."""
    [error] = [v for v in EVENT_SCHEMA["oneOf"] if v["properties"]["type"]["const"] == "error"]
    return list(error["properties"]["code"]["enum"])


def test_error_codes_match_trainer_error_code_in_events_schema() -> None:
    # core/training_codes_test.ts checks errors.py against the zod enum itself, so a code added to
    # core/training.ts without `deno task schema` fails there, and one added here alone fails both.
    python, zod = list(typing.get_args(ErrorCode)), schema_error_codes()
    only_python = [c for c in python if c not in zod]
    only_zod = [c for c in zod if c not in python]
    assert (only_python, only_zod) == ([], []), "ErrorCode and TrainerErrorCode differ"
    assert len(set(python)) == len(python)


def test_events_fixture_validates_and_covers_every_type() -> None:
    events = [check_event(line) for line in FIXTURE.read_text().splitlines() if line.strip()]
    assert {e["type"] for e in events} == set(EVENT_FIELDS)


def test_events_schema_rejects_extra_and_missing_fields() -> None:
    good = {"type": "checkpoint", "time": 1.0, "step": 3, "path": "checkpoints/step-000003"}
    assert EVENTS.is_valid(good)
    assert not EVENTS.is_valid({**good, "extra": 1})
    assert not EVENTS.is_valid({k: v for k, v in good.items() if k != "path"})
    assert not EVENTS.is_valid({"type": "error", "time": 1.0, "code": "nope", "message": "x"})


def test_parse_spec_fills_the_schema_defaults() -> None:
    spec = parse_spec({"task_id": "t", "type": "image", "base_model": "m"})
    schema = variant("image")["properties"]
    as_dict = dataclasses.asdict(spec)
    for name in ("hyperparameters", "dataset", "quality"):
        assert as_dict[name] == schema[name]["default"]


@pytest.mark.parametrize(
    ("task", "needle"),
    [
        ({"type": "text", "base_model": "m"}, "task_id is required"),
        ({"task_id": "t", "type": "video", "base_model": "m"}, "'video'"),
        ({"task_id": "-bad", "type": "text", "base_model": "m"}, "task_id"),
        ({"task_id": "t", "type": "text", "base_model": "m", "hyperparameters": {"dropout": 1}}, "dropout is 1"),
        ({"task_id": "t", "type": "text", "base_model": "m", "hyperparameters": {"lr_scheduler": "x"}}, "lr_scheduler"),
        ({"task_id": "t", "type": "text", "base_model": "m", "hyperparameters": {"batch_size": 1.5}}, "batch_size"),
        ({"task_id": "t", "type": "text", "base_model": "m", "hyperparameters": {"packing": "yes"}}, "packing"),
        (
            {"task_id": "t", "type": "text", "base_model": "m", "dataset": {"columns": {"txt": "a"}}},
            "dataset.columns.txt",
        ),
        ({"task_id": "t", "type": "image", "base_model": "m", "quality": {"prompts": []}}, "quality.prompts"),
        ({"task_id": "t", "type": "image", "base_model": "m", "hyperparameters": {"packing": True}}, "packing"),
        ({"task_id": "t", "type": "text", "base_model": "m", "hyperparameters": {"adam_beta2": 1}}, "adam_beta2 is 1"),
        (
            {"task_id": "t", "type": "image", "base_model": "m", "hyperparameters": {"weight_decay": -1}},
            "hyperparameters.weight_decay is -1",
        ),
    ],
)
def test_parse_spec_rejects_invalid_tasks_naming_the_field(task: dict[str, Any], needle: str) -> None:
    with pytest.raises(TrainerError) as err:
        parse_spec(task)
    assert err.value.code == "config_invalid"
    assert needle in err.value.message
