"""The optimizer step's settings, all read from the task spec (core/training.ts says why each default):
AdamW (learning rate, weight decay, betas), the LR schedule (linear warmup, then constant/linear/cosine)
and gradient-norm clipping. Text and image build their optimizer here so the two cannot drift apart."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from .config import CommonHyperparameters


def build_optimizer(
    params: Iterable[torch.nn.Parameter], hp: CommonHyperparameters, fused: bool = False
) -> torch.optim.AdamW:
    """`fused`: one CUDA kernel for every LoRA tensor (speed.fused_optimizer, resolved in speed.py)."""
    return torch.optim.AdamW(
        list(params),
        lr=hp.learning_rate,
        weight_decay=hp.weight_decay,
        betas=(hp.adam_beta1, hp.adam_beta2),
        **({"fused": True} if fused else {}),
    )


def clip_grads(params: list[torch.nn.Parameter], hp: CommonHyperparameters) -> None:
    if hp.max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(params, hp.max_grad_norm)


def lr_factor(step: int, warmup: int, total: int, kind: str) -> float:
    """Multiplier of the peak LR at optimizer step `step` (0-based): linear warmup, then constant/linear/cosine."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if kind == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    progress = min(max(progress, 0.0), 1.0)
    if kind == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def describe(optimizer: torch.optim.Optimizer, hp: CommonHyperparameters) -> dict[str, Any]:
    """The settings as the optimizer holds them (after any resume), for training_args.json."""
    group = optimizer.param_groups[0]
    return {
        "name": type(optimizer).__name__,
        "peak_lr": hp.learning_rate,
        "lr_scheduler": hp.lr_scheduler,
        "warmup_steps": hp.warmup_steps,
        "weight_decay": group["weight_decay"],
        "betas": list(group["betas"]),
        "eps": group["eps"],
        "max_grad_norm": hp.max_grad_norm if hp.max_grad_norm > 0 else None,
        "fused": bool(group.get("fused")),
    }
