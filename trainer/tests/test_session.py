"""The shared session skeleton as both kinds run it: optimizer settings from the spec reach AdamW and
are recorded in training_args.json, and both kinds write the same common metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trainer import checkpoint
from trainer.config import parse_spec, spec_to_dict

from .conftest import image_task, run_trainer, text_task

OPTIMIZER = {"weight_decay": 0.01, "adam_beta1": 0.85, "adam_beta2": 0.99, "max_grad_norm": 0.5}
COMMON_METRICS = {
    "kind", "steps", "steps_this_run", "resumed_from_step", "train_loss_first", "train_loss_last", "eval_loss",
    "base_eval_loss", "train_samples", "eval_samples", "seconds_per_step", "runtime_s", "quality_passed",
    "device", "processes", "precision",
}  # fmt: skip


def task_of(kind: str, request: pytest.FixtureRequest) -> tuple[dict[str, Any], Path]:
    if kind == "text":
        task = text_task(request.getfixturevalue("tiny_llama"), max_steps=10, **OPTIMIZER)
        return task, request.getfixturevalue("toy_text")
    task = image_task(request.getfixturevalue("tiny_flux"), max_steps=2, checkpoint_every=0, **OPTIMIZER)
    task["quality"]["min_difference"] = 0
    return task, request.getfixturevalue("toy_images")


@pytest.mark.parametrize("kind", ["text", "image"])
def test_session_records_the_spec_optimizer_in_training_args(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    task, dataset = task_of(kind, request)
    run = run_trainer(tmp_path, task, dataset)
    assert run.rc == 0, run.stderr[-3000:]
    args = json.loads((run.out / "training_args.json").read_text())
    assert {k: args["spec"]["hyperparameters"][k] for k in OPTIMIZER} == OPTIMIZER
    optimizer = args["resolved"]["optimizer"]
    assert optimizer["name"] == "AdamW"
    assert (optimizer["weight_decay"], optimizer["betas"], optimizer["max_grad_norm"]) == (0.01, [0.85, 0.99], 0.5)
    assert args["resolved"]["processes"] == 1 and {"torch", "peft"} <= set(args["versions"])
    metrics = run.one("done")["metrics"]
    assert set(metrics) >= COMMON_METRICS and metrics["kind"] == kind


def test_fingerprint_matches_a_pre_optimizer_fields_checkpoint_only_at_the_defaults() -> None:
    def spec(**hp: Any) -> dict[str, Any]:
        return spec_to_dict(parse_spec({"task_id": "t", "type": "image", "base_model": "m", "hyperparameters": hp}))

    older = spec()  # as a trainer without the optimizer fields hashed it
    for name in OPTIMIZER:
        del older["hyperparameters"][name]
    assert checkpoint.fingerprint(spec()) == checkpoint.fingerprint(older)
    for name, value in OPTIMIZER.items():
        assert checkpoint.fingerprint(spec(**{name: value})) != checkpoint.fingerprint(older), name
