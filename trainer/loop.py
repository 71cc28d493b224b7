"""The optimizer-step loop shared by text and image training: gradient accumulation, LR schedule,
gradient clipping, fp16 loss scaling, `progress` events, periodic checkpoints and SIGTERM at step boundaries.

`micro_step(indices)` runs one forward pass over the listed micro-batches of the whole run (so data order
is a pure function of the index) and returns (the sum of their mean losses, samples, tokens or None): one
micro-batch at a time, or `per_forward` of an accumulation step merged (speed.merge_micro_batches), which
takes the same gradient as running them one by one. Under torchrun each rank
runs its share of the step's micro-batches (parallel.py) and the gradients and step stats are summed
across ranks before the optimizer step, so every rank takes the same step."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch

from .cancel import Cancel
from .config import CommonHyperparameters
from .device import gpu_mem_mb
from .errors import TrainerError
from .events import emit
from .optim import clip_grads, lr_factor, set_lr
from .parallel import Parallel
from .rng import rng_state

MicroStep = Callable[[list[int]], tuple[torch.Tensor, int, int | None]]


@dataclass
class LoopResult:
    last_step: int
    losses: list[float] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    samples: int = 0
    tokens: int = 0


def train_loop(
    *,
    hp: CommonHyperparameters,
    params: Iterable[torch.nn.Parameter],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    micro_step: MicroStep,
    start: int,
    total: int,
    device: torch.device,
    cancel: Cancel,
    save_checkpoint: Callable[[int, dict], None],
    par: Parallel,
    per_forward: int = 1,
) -> LoopResult:
    params = [p for p in params if p.requires_grad]
    accum = hp.gradient_accumulation
    if accum % per_forward:
        raise ValueError(f"per_forward {per_forward} must divide gradient_accumulation {accum}")
    result = LoopResult(last_step=start)
    last = time.perf_counter()
    cancel.armed = True
    try:
        for step in range(start, total):
            rng_at_step = rng_state()
            loss_sum = torch.zeros((), device=device)
            samples = 0
            tokens = 0
            for first in range(0, accum, per_forward):
                if cancel.requested and not par.active:  # under torchrun the ranks agree at the step's end
                    optimizer.zero_grad(set_to_none=True)
                    save_checkpoint(step, rng_at_step)
                    cancel.raise_cancelled(step)
                micros = range(first, first + per_forward)
                loss, n, t = micro_step([(step * accum + micro) * par.world + par.rank for micro in micros])
                scaled = loss / accum
                (scaler.scale(scaled) if scaler is not None else scaled).backward()
                loss_sum += loss.detach()
                samples += n
                tokens += t or 0
            par.average_grads(params)  # under torchrun: every rank takes the same step
            lr = hp.learning_rate * lr_factor(step, hp.warmup_steps, total, hp.lr_scheduler)
            set_lr(optimizer, lr)
            if scaler is not None:
                scaler.unscale_(optimizer)
            clip_grads(params, hp)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            mean_loss, samples, tokens, stop = step_stats(par, loss_sum, samples, tokens, cancel.requested, accum)
            done = step + 1
            if not math.isfinite(mean_loss):
                raise TrainerError("quality_failed", f"Training diverged: loss is {mean_loss} at step {done}")
            now = time.perf_counter()
            seconds = max(now - last, 1e-9)
            last = now
            result.last_step = done
            result.losses.append(mean_loss)
            result.step_seconds.append(seconds)
            result.samples += samples
            result.tokens += tokens
            avg = sum(result.step_seconds[-20:]) / len(result.step_seconds[-20:])
            emit(
                "progress",
                step=done,
                total=total,
                loss=mean_loss,
                lr=lr,
                samples_per_s=samples / seconds,
                tokens_per_s=(tokens / seconds) if tokens else None,
                eta_s=avg * (total - done),
                gpu_mem_mb=gpu_mem_mb(device),
            )
            if hp.checkpoint_every and done % hp.checkpoint_every == 0 and done < total:
                save_checkpoint(done, rng_state())
                last = time.perf_counter()
            if stop:
                save_checkpoint(done, rng_state())
                cancel.raise_cancelled(done)
        if par.any(cancel.requested):
            save_checkpoint(result.last_step, rng_state())
            cancel.raise_cancelled(result.last_step)
    finally:
        cancel.armed = False
    return result


def step_stats(
    par: Parallel, loss_sum: torch.Tensor, samples: int, tokens: int, cancel: bool, accum: int
) -> tuple[float, int, int, bool]:
    """(mean loss, samples, tokens, stop) of the step over all ranks; stop: some rank was asked to cancel."""
    if not par.active:
        return loss_sum.item() / accum, samples, tokens, False
    local = torch.tensor([samples, tokens, float(cancel)], dtype=torch.float64).to(loss_sum.device)
    total = par.sum_(torch.cat([loss_sum.reshape(1).double(), local])).tolist()
    return total[0] / (accum * par.world), int(total[1]), int(total[2]), total[3] > 0
