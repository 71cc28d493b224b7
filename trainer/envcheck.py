"""`python -m trainer envcheck`: what this venv can train with, for `main.ts doctor`. One JSON object on
stdout: each library's installed version (or the import error), torch's CUDA build, and every GPU torch
sees with its memory and compute capability. The miner compares the versions with trainer/requirements.txt
and picks the image-training mode each GPU can run; this only reports."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import sys

LIBRARIES = ("torch", "transformers", "peft", "diffusers", "huggingface_hub", "accelerate", "safetensors")
OPTIONAL = ("bitsandbytes",)


def library(name: str) -> dict[str, str | None]:
    try:
        importlib.import_module(name)
    except Exception as err:  # a broken install raises anything, not only ImportError
        return {"version": None, "error": f"{type(err).__name__}: {err}".splitlines()[0]}
    dist = name.replace("_", "-")
    try:
        return {"version": importlib.metadata.version(dist), "error": None}
    except importlib.metadata.PackageNotFoundError:
        return {"version": getattr(sys.modules[name], "__version__", None), "error": None}


def gpus() -> dict[str, object]:
    try:
        import torch
    except Exception:
        return {"cuda_build": None, "cuda_available": False, "gpus": []}
    out: dict[str, object] = {"cuda_build": torch.version.cuda, "cuda_available": torch.cuda.is_available()}
    found = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            found.append(
                {
                    "index": i,
                    "name": p.name,
                    "memory_mb": p.total_memory // 2**20,
                    "capability": f"{p.major}.{p.minor}",
                    "bf16": torch.cuda.is_bf16_supported(),
                }
            )
    out["gpus"] = found
    return out


def envcheck_command() -> int:
    report = {
        "python": sys.version.split()[0],
        "libraries": {name: library(name) for name in LIBRARIES + OPTIONAL},
        **gpus(),
    }
    sys.stdout.write(json.dumps(report) + "\n")
    return 0
