"""The memory mode of a run, chosen from the card: the frozen base's storage (`quantization`: none, fp8, nf4)
and activation checkpointing, picked as the fastest mode whose estimated peak fits the device's free memory.

The table (trainer/modes.json) is the one owner of the numbers; actors/queue/placement.ts reads the same
file and computes the same estimate, so the queue places a task where the trainer will find a mode that fits
(trainer/tests/fixtures/mode_cases.json holds worked cases both sides check). Every number is an estimate
until bench/gpu_check.py has measured it on a GPU (`measured` in the table says which).

Per GPU, the estimate of one mode is
    weights     = parameters × bytes per parameter (the precision's for an unquantized base; fp8 1, nf4 0.5625:
                  4 bits plus block scales; fp8 without checkpointing 3, since autograd keeps every layer's bf16
                  upcast of the fp8 weights until backward, which is why auto never picks it)
    activations = tokens per forward × billions of parameters × MiB per token per billion (÷ 8 checkpointed)
    LoRA        = rank × billions of parameters × 4 MiB (weights, gradients and AdamW state in fp32)
    overhead    = CUDA context and allocator slack
and, for images, at least the text encoders' phase (they encode every caption first and are freed before the
transformer loads). A task's own asks are floors: `quantization` other than none keeps that quantization,
`gradient_checkpointing: true` keeps checkpointing; `speed.mode: "as_given"` uses exactly those two.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

TABLE_PATH = Path(__file__).with_name("modes.json")


@cache
def table() -> dict[str, Any]:
    return json.loads(TABLE_PATH.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Mode:
    quantization: str  # none | fp8 | nf4
    checkpointing: bool
    weight_bytes: float | None  # None: the precision's bytes
    relative_step_time: float
    kinds: tuple[str, ...]
    auto: bool  # may auto pick it
    needs: str | None  # a package it needs, e.g. bitsandbytes

    def name(self, precision: str) -> str:
        base = precision if self.quantization == "none" else self.quantization
        return base + ("+checkpointing" if self.checkpointing else "")


def modes(kind: str) -> list[Mode]:
    """The table's modes for `kind`, fastest first."""
    found = [Mode(**{**m, "kinds": tuple(m["kinds"])}) for m in table()["modes"] if kind in m["kinds"]]
    return sorted(found, key=lambda m: m.relative_step_time)


@dataclass(frozen=True)
class Workload:
    """What the estimate needs to know about a task."""

    kind: str  # text | image
    params_b: float  # the trained model (FLUX: the transformer), billions of parameters
    tokens: int  # tokens one micro-batch puts through a forward pass
    rank: int
    precision: str = "bf16"  # fp32 | bf16 | fp16: bytes of an unquantized base
    encoders_b: float = 0.0  # image: text encoders on the GPU while captions are encoded


def tokens_of(kind: str, batch_size: int, max_seq_length: int = 0, resolution: int = 0) -> int:
    """Tokens per micro-batch: batch × sequence length (text; an upper bound without padding), or
    batch × (latent patches + T5 tokens) (image)."""
    t = table()
    if kind == "text":
        return batch_size * max_seq_length
    return batch_size * ((resolution // t["image_patch_px"]) ** 2 + t["image_text_tokens"])


def estimate_mib(mode: Mode, w: Workload, per_forward: int = 1) -> float:
    """Estimated peak MiB per GPU of `w` in `mode` with `per_forward` micro-batches in each forward pass."""
    t = table()
    weight_bytes = mode.weight_bytes if mode.weight_bytes is not None else t["bytes_per_param"][w.precision]
    weights = w.params_b * 1e9 * weight_bytes / 2**20
    per_token = t["activation_mib_per_token_per_b"]["checkpointing" if mode.checkpointing else "full"]
    activations = w.tokens * per_forward * w.params_b * per_token
    lora = w.rank * w.params_b * t["lora_mib_per_rank_per_b"]
    train = weights + activations + lora + t["overhead_mib"]
    encode = w.encoders_b * 1e9 * t["bytes_per_param"][w.precision] / 2**20 + t["overhead_mib"]
    return max(train, encode)


@dataclass(frozen=True)
class Choice:
    mode: Mode
    name: str
    per_forward: int  # micro-batches merged into one forward pass
    estimate_mib: float
    fits: bool
    reason: str


def candidates(
    kind: str, quantization: str, checkpointing: bool, as_given: bool, cuda: bool, available: frozenset[str]
) -> list[Mode]:
    """The modes a task may run in, fastest first: the task's asks are floors (exact with `as_given`);
    quantized modes need CUDA; a mode whose package is missing is left out."""
    out = []
    for m in modes(kind):
        if as_given:
            ok = m.quantization == quantization and m.checkpointing == checkpointing
        else:
            ok = m.auto and (quantization == "none" or m.quantization == quantization)
            ok = ok and (m.checkpointing or not checkpointing)
        ok = ok and (cuda or m.quantization == "none") and (m.needs is None or m.needs in available)
        if ok:
            out.append(m)
    return out


def choose(
    w: Workload,
    free_mib: float | None,
    *,
    quantization: str = "none",
    checkpointing: bool = False,
    as_given: bool = False,
    available: frozenset[str] = frozenset(),
    accumulation: int = 1,
    merge: bool = False,
) -> Choice:
    """The fastest candidate estimated to fit `free_mib` (None: the CPU, no limit), else the most frugal one;
    then, with `merge`, the most micro-batches of an accumulation step one forward pass can take."""
    cuda = free_mib is not None
    found = candidates(w.kind, quantization, checkpointing, as_given, cuda, available)
    if not found:  # e.g. quantization asked on the CPU: the spec check refuses it with a clear error
        found = [Mode(quantization, checkpointing, None, 1.0, (w.kind,), True, None)]
    budget = math.inf if free_mib is None else free_mib * table()["free_share"]
    fitting = [m for m in found if estimate_mib(m, w) <= budget]
    mode = fitting[0] if fitting else min(found, key=lambda m: estimate_mib(m, w))
    per_forward = 1
    if merge and fitting:
        per_forward = max(d for d in range(1, accumulation + 1) if accumulation % d == 0 and _fits(mode, w, d, budget))
    est = estimate_mib(mode, w, per_forward)
    name = mode.name(w.precision)
    return Choice(mode, name, per_forward, est, bool(fitting), _reason(name, mode, w, found, free_mib, per_forward))


def _fits(mode: Mode, w: Workload, per_forward: int, budget: float) -> bool:
    return estimate_mib(mode, w, per_forward) <= budget


def _reason(name: str, mode: Mode, w: Workload, found: list[Mode], free_mib: float | None, per_forward: int) -> str:
    gib = lambda mib: f"{mib / 1024:.1f} GiB"  # noqa: E731
    est = estimate_mib(mode, w, per_forward)
    merged = f", {per_forward} micro-batches per forward pass" if per_forward > 1 else ""
    measured = "measured" if table()["measured"] else "estimates, not measured"
    if free_mib is None:
        return f"{name}: the fastest mode allowed; no GPU memory limit on the CPU (needs ~{gib(est)}){merged}"
    faster = [m for m in found if m.relative_step_time < mode.relative_step_time]
    skipped = ", ".join(f"{m.name(w.precision)} ~{gib(estimate_mib(m, w))}" for m in faster)
    if est > free_mib * table()["free_share"]:
        return (
            f"{name}: the most frugal mode allowed, and even it may not fit: ~{gib(est)} needed, "
            f"{gib(free_mib)} free ({measured})"
        )
    why = f" (faster ones need more: {skipped})" if skipped else ""
    return f"{name}: the fastest mode that fits {gib(free_mib)} free, ~{gib(est)} needed{why}{merged} ({measured})"
