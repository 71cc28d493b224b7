"""The speed levers' defaults as speed.py resolves them for a device (no GPU needed), the merged image
micro-batches' loss weighting, and an image run that merges its accumulation step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from trainer import flux_step, modes
from trainer.config import Speed, parse_spec
from trainer.errors import TrainerError
from trainer.speed import attention_of, compile_of, resolve

from .conftest import image_task, run_trainer

CUDA, CPU = torch.device("cuda", 0), torch.device("cpu")
LONG = modes.table()["compile_min_steps"]


def test_resolve_defaults_turn_every_lever_on_for_a_long_cuda_run_and_off_on_the_cpu() -> None:
    on = resolve(Speed(), CUDA, LONG, flash=False)
    assert (on.attention, on.compile, on.fused_optimizer, on.tf32) == ("sdpa", True, True, True)
    off = resolve(Speed(), CPU, LONG, flash=True)
    assert (off.attention, off.compile, off.fused_optimizer, off.tf32) == ("sdpa", False, False, False)
    assert resolve(Speed(), CUDA, 10, flash=True).attention == "flash"


def test_compile_of_auto_compiles_only_runs_long_enough_to_repay_the_warm_up() -> None:
    assert compile_of(Speed(), True, LONG - 1) == (
        False,
        f"auto: {LONG - 1} steps < {LONG}, too short to repay the warm-up",
    )
    assert compile_of(Speed(), True, LONG)[0] is True
    assert compile_of(Speed(), False, 10 * LONG)[0] is False
    assert compile_of(Speed(compile="on"), False, 1)[0] is True
    assert compile_of(Speed(compile="off"), True, 10 * LONG)[0] is False


def test_attention_of_flash_where_it_cannot_run_is_config_invalid() -> None:
    with pytest.raises(TrainerError, match="flash-attn package is not installed") as err:
        attention_of(Speed(attention="flash"), True, False)
    assert err.value.code == "config_invalid"
    with pytest.raises(TrainerError, match="needs a CUDA GPU"):
        attention_of(Speed(attention="flash"), False, True)
    assert attention_of(Speed(attention="sdpa"), True, True) == "sdpa"


def test_resolve_honours_each_lever_turned_off() -> None:
    off = resolve(Speed(fused_optimizer=False, tf32=False, compile="off"), CUDA, LONG, flash=False)
    assert (off.compile, off.fused_optimizer, off.tf32) == (False, False, False)


def test_parse_spec_reads_speed_and_rejects_unknown_values_naming_the_field() -> None:
    spec = parse_spec({"task_id": "t", "type": "text", "base_model": "m", "hyperparameters": {"speed": {}}})
    assert spec.hyperparameters.speed == Speed()
    bad = {"task_id": "t", "type": "image", "base_model": "m", "hyperparameters": {"speed": {"compile": "always"}}}
    with pytest.raises(TrainerError, match=r"hyperparameters\.speed\.compile is 'always'"):
        parse_spec(bad)


def test_merged_loss_is_the_sum_of_each_micro_batchs_mean_in_one_pass_per_shape(monkeypatch: Any) -> None:
    calls: list[int] = []

    def fake(setup: Any, items: list[dict[str, Any]]) -> torch.Tensor:
        calls.append(len(items))
        return torch.tensor([float(it["loss"]) for it in items])

    monkeypatch.setattr(flux_step, "per_sample_loss", fake)
    item = lambda loss, side: {"loss": loss, "mean": torch.zeros(1, side, side)}  # noqa: E731
    batches = [[item(1, 4), item(3, 4)], [item(5, 4)], [item(7, 8), item(9, 8)]]
    setup = flux_step.FlowSetup(None, None, None, 0, 0, 1, 8, 1, CPU, torch.float32, 0)  # type: ignore[arg-type]
    total = flux_step.merged_loss(setup, batches)
    assert total.item() == pytest.approx(2 + 5 + 8)  # the means of the three micro-batches
    assert calls == [3, 2]  # the two 4×4 micro-batches in one forward pass, the 8×8 one in another


def test_run_image_merges_an_accumulation_step_into_one_forward_pass(
    tmp_path: Path, tiny_flux: Path, toy_images: Path
) -> None:
    task = image_task(tiny_flux, max_steps=2, gradient_accumulation=2, checkpoint_every=0)
    task["quality"]["min_difference"] = 0
    run = run_trainer(tmp_path, task, toy_images)
    assert run.rc == 0, run.stderr[-3000:]
    resolved = json.loads((run.out / "training_args.json").read_text())["resolved"]
    assert resolved["mode"]["micro_batches_per_forward"] == 2 and run.one("started")["mode"] == "fp32"
    assert [e["samples_per_s"] > 0 for e in run.by_type["progress"]] == [True, True]


def test_fingerprint_leaves_speed_out_so_a_resume_may_change_card_and_levers() -> None:
    from trainer import checkpoint
    from trainer.config import spec_to_dict

    def fp(**hp: Any) -> str:
        return checkpoint.fingerprint(
            spec_to_dict(parse_spec({"task_id": "t", "type": "text", "base_model": "m", "hyperparameters": hp}))
        )

    assert fp() == fp(speed={"compile": "on", "padding_free": False, "mode": "as_given"})
    older = spec_to_dict(parse_spec({"task_id": "t", "type": "text", "base_model": "m"}))
    del older["hyperparameters"]["speed"]  # as a trainer before `speed` hashed it
    assert checkpoint.fingerprint(older) == fp()
    assert fp(rank=8) != fp()
