"""Device and precision choice, SIGTERM handling, LR schedule, hashing: small helpers shared by text and image."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import signal
from pathlib import Path
from types import FrameType
from typing import Any

import torch

from .errors import TrainerError

log = logging.getLogger("trainer")


def pick_device() -> torch.device:
    if not torch.cuda.is_available():
        return torch.device("cpu")
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    torch.cuda.set_device(device)
    return device


def pick_dtype(precision: str, device: torch.device) -> tuple[str, torch.dtype]:
    """Resolve `precision` to (name, dtype): auto is bf16 (or fp16 without bf16 support) on GPU, fp32 on CPU."""
    if precision == "auto":
        if device.type != "cuda":
            return "fp32", torch.float32
        return ("bf16", torch.bfloat16) if torch.cuda.is_bf16_supported() else ("fp16", torch.float16)
    if precision == "fp16" and device.type != "cuda":
        raise TrainerError("config_invalid", 'Cannot train with hyperparameters.precision "fp16" on the CPU')
    return precision, {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def gpu_mem_mb(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


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


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def rng_state() -> dict[str, Any]:
    import random

    import numpy as np

    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": np.random.get_state(),
    }
    if torch.cuda.is_available():  # this process's GPU only: under torchrun every rank sees all of them
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import random

    import numpy as np

    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        (torch.cuda.set_rng_state_all if isinstance(cuda, list) else torch.cuda.set_rng_state)(cuda)


def seed_all(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Cancel:
    """SIGTERM/SIGINT handling. Outside the training loop a signal cancels at once; inside (`armed`) it only
    sets `requested`, and the loop saves a checkpoint at the next step boundary before raising `cancelled`."""

    def __init__(self) -> None:
        self.requested = False
        self.armed = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        log.warning("received signal %d", signum)
        first = not self.requested  # under torchrun a rank may get SIGTERM twice (process group + torchrun)
        self.requested = True
        if first and not self.armed:
            raise TrainerError("cancelled", f"Training cancelled by signal {signum}")

    def ending(self) -> None:
        """The run is over (the final event is being written): later signals are only logged."""
        self.requested = True
        self.armed = False

    def raise_cancelled(self, step: int) -> None:
        raise TrainerError("cancelled", f"Training cancelled by signal at step {step}; checkpoint saved")
