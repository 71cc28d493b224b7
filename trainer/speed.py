"""The speed levers of `hyperparameters.speed`, resolved for the device and the run: which attention kernels,
whether to compile, fused AdamW, TF32. Each resolution is a pure function of the spec and what it is told
about the host, so the defaults are tested without a GPU; `apply_*` do the one side effect each.

Why the defaults (core/training.ts has the same in the contract):
- compile "auto": on CUDA only, and only once a run has `compile_min_steps` steps (trainer/modes.json): the
  blocks compile in about a minute (an estimate, as is the gain of roughly a tenth of a step), so a short
  run would spend more time compiling than it saves. Repeated blocks are compiled one by one (regional
  compilation): identical blocks reuse one graph, so warm-up does not grow with depth.
- attention "auto": flash-attn when the package is installed on CUDA (varlen kernels for padding-free text),
  else PyTorch SDPA, with trainer/attention.py for padding-free text.
- fused AdamW and TF32: on CUDA only, where those kernels are; CPU runs (tests, local mode) stay as they were.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import torch

from .config import Speed
from .errors import TrainerError
from .modes import table

log = logging.getLogger("trainer")


@dataclass(frozen=True)
class Levers:
    attention: str  # sdpa | flash
    compile: bool
    compile_why: str
    fused_optimizer: bool
    tf32: bool

    def describe(self) -> dict[str, object]:
        return asdict(self)


def flash_installed() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


def attention_of(speed: Speed, cuda: bool, flash: bool) -> str:
    """ "flash" or "sdpa"; asking for flash where it cannot run is the task's error, said before any load."""
    if speed.attention == "flash" and not (cuda and flash):
        why = "the flash-attn package is not installed" if cuda else "it needs a CUDA GPU"
        raise TrainerError("config_invalid", f'Cannot use hyperparameters.speed.attention "flash": {why}')
    if speed.attention == "auto":
        return "flash" if cuda and flash else "sdpa"
    return speed.attention


def compile_of(speed: Speed, cuda: bool, total_steps: int) -> tuple[bool, str]:
    """(compile?, why) from the policy and the step count."""
    if speed.compile != "auto":
        return speed.compile == "on", f"speed.compile is {speed.compile!r}"
    least = table()["compile_min_steps"]
    if not cuda:
        return False, "auto: not on the CPU"
    if total_steps < least:
        return False, f"auto: {total_steps} steps < {least}, too short to repay the warm-up"
    return True, f"auto: {total_steps} steps >= {least}"


def resolve(speed: Speed, device: torch.device, total_steps: int, flash: bool | None = None) -> Levers:
    cuda = device.type == "cuda"
    attention = attention_of(speed, cuda, flash_installed() if flash is None else flash)
    compiled, why = compile_of(speed, cuda, total_steps)
    return Levers(attention, compiled, why, speed.fused_optimizer and cuda, speed.tf32 and cuda)


def apply_tf32(enabled: bool) -> None:
    """TF32 tensor cores for fp32 matmuls (the LoRA weights and the losses are fp32). The float32 matmul
    precision API is the one spelling that every torch since 1.12 reads the same way."""
    if torch.cuda.is_available():
        torch.set_float32_matmul_precision("high" if enabled else "highest")


def compile_blocks(blocks: Iterable[torch.nn.Module], backend: str = "inductor", dynamic: bool | None = None) -> int:
    """Compile each repeated block in place (regional compilation); returns how many."""
    count = 0
    for block in blocks:
        block.compile(backend=backend, dynamic=dynamic)
        count += 1
    log.info("compiled %d blocks with %s (dynamic=%s)", count, backend, dynamic)
    return count
