"""Where and in what precision a run computes: this rank's device, the resolved precision, free and peak GPU
memory."""

from __future__ import annotations

import os

import torch

from .errors import TrainerError


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


def free_memory_mib(device: torch.device) -> float | None:
    """Free memory of this rank's GPU as the driver reports it (other processes included); None on the CPU."""
    if device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    return free / 2**20
