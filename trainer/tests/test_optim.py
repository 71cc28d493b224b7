"""The optimizer step's settings come from the spec: AdamW's weight decay and betas, clipping, LR schedule,
and the step count the session derives from `max_steps`/`epochs`."""

from __future__ import annotations

import math

import pytest
import torch

from trainer.config import TextHyperparameters
from trainer.optim import build_optimizer, clip_grads, describe, lr_factor
from trainer.session import total_steps


def params_with_grad(norm: float) -> list[torch.nn.Parameter]:
    p = torch.nn.Parameter(torch.zeros(4))
    p.grad = torch.full((4,), norm / 2)  # |(n/2, n/2, n/2, n/2)| = n
    return [p]


def test_build_optimizer_takes_weight_decay_and_betas_from_the_spec() -> None:
    hp = TextHyperparameters(learning_rate=0.003, weight_decay=0.02, adam_beta1=0.8, adam_beta2=0.95)
    opt = build_optimizer(params_with_grad(1.0), hp)
    [group] = opt.param_groups
    assert isinstance(opt, torch.optim.AdamW)
    assert (group["lr"], group["weight_decay"], group["betas"]) == (0.003, 0.02, (0.8, 0.95))
    assert describe(opt, hp) == {
        "name": "AdamW",
        "peak_lr": 0.003,
        "lr_scheduler": "constant",
        "warmup_steps": 0,
        "weight_decay": 0.02,
        "betas": [0.8, 0.95],
        "eps": group["eps"],
        "max_grad_norm": 1,
        "fused": False,
    }


def test_build_optimizer_fuses_adamw_only_when_asked() -> None:
    hp = TextHyperparameters()
    assert build_optimizer(params_with_grad(1.0), hp, fused=True).param_groups[0]["fused"] is True
    assert not build_optimizer(params_with_grad(1.0), hp).param_groups[0].get("fused")


def test_build_optimizer_defaults_when_the_spec_leaves_them_out() -> None:
    [group] = build_optimizer(params_with_grad(1.0), TextHyperparameters()).param_groups
    assert (group["weight_decay"], group["betas"]) == (0, (0.9, 0.999))


def test_clip_grads_clips_to_max_grad_norm_and_not_at_all_when_zero() -> None:
    params = params_with_grad(10.0)
    clip_grads(params, TextHyperparameters(max_grad_norm=2.5))
    assert float(params[0].grad.norm()) == pytest.approx(2.5, rel=1e-5)  # type: ignore[union-attr]
    params = params_with_grad(10.0)
    clip_grads(params, TextHyperparameters(max_grad_norm=0))
    assert float(params[0].grad.norm()) == pytest.approx(10.0)  # type: ignore[union-attr]
    no_clip = TextHyperparameters(max_grad_norm=0)
    assert describe(build_optimizer(params, no_clip), no_clip)["max_grad_norm"] is None


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("weight_decay", -0.1, "weight_decay is -0.1"),
        ("adam_beta1", 1, "adam_beta1 is 1"),
        ("adam_beta2", -0.5, "adam_beta2 is -0.5"),
        ("max_grad_norm", -1, "max_grad_norm is -1"),
        ("max_grad_norm", math.inf, "max_grad_norm must be a number"),
        ("weight_decay", "0.1", "weight_decay must be a number"),
    ],
)
def test_hyperparameters_reject_optimizer_fields_out_of_bounds_naming_field_and_value(
    field: str, value: object, needle: str
) -> None:
    with pytest.raises(ValueError, match=needle):
        TextHyperparameters(**{field: value})  # type: ignore[arg-type]


def test_lr_factor_warms_up_linearly_then_follows_the_schedule() -> None:
    assert [lr_factor(s, 4, 10, "constant") for s in (0, 3, 9)] == [0.25, 1.0, 1.0]
    assert lr_factor(4, 4, 10, "cosine") == 1.0 and lr_factor(10, 4, 10, "cosine") == pytest.approx(0.0)
    assert lr_factor(7, 4, 10, "linear") == pytest.approx(0.5)


def test_total_steps_max_steps_wins_else_epochs_over_accumulation_and_ranks() -> None:
    assert total_steps(TextHyperparameters(max_steps=7, epochs=3), 100, 4) == 7
    assert total_steps(TextHyperparameters(), 10, 1) == 10
    assert total_steps(TextHyperparameters(epochs=2.5, gradient_accumulation=2), 10, 2) == 7  # ceil(25 / 4)
    assert total_steps(TextHyperparameters(epochs=0.01), 10, 1) == 1
