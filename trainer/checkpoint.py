"""Step-numbered resumable checkpoints: `<out>/checkpoints/step-000042/` holding the adapter weights
(`adapter.safetensors`), `optimizer.pt` (optimizer + grad scaler), `rng.pt` and `meta.json` (step, data
position, spec fingerprint). A folder counts only once its `meta.json` exists: it is written last, then the
folder is renamed into place, so a crash mid-save never leaves a checkpoint that looks complete. Under
torchrun rank 0 writes it, `rng.pt` holds a list of every rank's RNG state and `meta.json` the world size."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .config import CommonHyperparameters
from .errors import TrainerError
from .parallel import Parallel
from .rng import set_rng_state

log = logging.getLogger("trainer")
KEEP = 2
# Spec fields added after checkpoints existed, with their defaults. A checkpoint from before them hashes
# without them; its optimizer state carries the weight decay and betas it was trained with.
ADDED_LATER: dict[str, float] = {
    f.name: f.default
    for f in dataclasses.fields(CommonHyperparameters)
    if f.name in ("weight_decay", "adam_beta1", "adam_beta2", "max_grad_norm")
}


def root(out: Path) -> Path:
    return out / "checkpoints"


def fingerprint(spec_dict: dict[str, Any]) -> str:
    """Hash of everything in the task that changes what training does (checkpoint cadence and speed aside)."""
    data = json.loads(json.dumps(spec_dict))
    hp = data.get("hyperparameters", {})
    hp.pop("checkpoint_every", None)
    hp.pop("speed", None)  # how fast, not what is trained: a resume may land on another card and mode
    for name, default in ADDED_LATER.items():  # left out at their defaults: older checkpoints still resume
        if hp.get(name) == default:
            del hp[name]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def save(
    out: Path,
    step: int,
    adapter: dict[str, torch.Tensor],
    optimizer: dict[str, Any],
    rng: dict[str, Any],
    meta: dict[str, Any],
) -> Path:
    base = root(out)
    base.mkdir(parents=True, exist_ok=True)
    final = base / f"step-{step:06d}"
    tmp = base / f".tmp-step-{step:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file({k: v.detach().contiguous().cpu() for k, v in adapter.items()}, str(tmp / "adapter.safetensors"))
    torch.save(optimizer, tmp / "optimizer.pt")
    torch.save(rng, tmp / "rng.pt")
    (tmp / "meta.json").write_text(json.dumps({**meta, "step": step}, indent=2))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in complete(out)[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def complete(out: Path) -> list[Path]:
    """Complete checkpoint folders, oldest first."""
    base = root(out)
    if not base.is_dir():
        return []
    found = [p for p in base.iterdir() if p.name.startswith("step-") and (p / "meta.json").is_file()]
    return sorted(found, key=lambda p: p.name)


def load_latest(
    out: Path, expected_fingerprint: str
) -> tuple[dict[str, Any], dict[str, torch.Tensor], Any, Any] | None:
    """(meta, adapter, optimizer state, rng state) of the newest checkpoint, or None when there is none."""
    found = complete(out)
    if not found:
        return None
    path = found[-1]
    try:
        meta = json.loads((path / "meta.json").read_text())
        adapter = load_file(str(path / "adapter.safetensors"))
        optimizer = torch.load(path / "optimizer.pt", weights_only=False, map_location="cpu")
        rng = torch.load(path / "rng.pt", weights_only=False, map_location="cpu")
    except Exception as err:
        raise TrainerError("checkpoint_invalid", f"Cannot read checkpoint {str(path)!r}: {err}") from err
    if meta.get("fingerprint") != expected_fingerprint:
        raise TrainerError(
            "checkpoint_invalid",
            f"Cannot resume from {str(path)!r}: it was written for a different task spec",
        )
    log.info("resuming from %s (step %s)", path, meta.get("step"))
    return meta, adapter, optimizer, rng


def remove_all(out: Path) -> None:
    shutil.rmtree(root(out), ignore_errors=True)


def restore(out: Path, fingerprint_: str, model: Any, optimizer: Any, scaler: Any, par: Parallel) -> dict | None:
    """Load the newest checkpoint into the LoRA model, optimizer, grad scaler and this rank's RNG; its meta,
    or None when there is none. Under torchrun it must come from a run with as many processes."""
    from peft import set_peft_model_state_dict

    found = load_latest(out, fingerprint_)
    if found is None:
        log.info("--resume given but no checkpoint in %s: starting from step 0", out)
        return None
    meta, adapter, opt, rng = found
    saved_world = int(meta.get("world_size", 1))
    if saved_world != par.world:
        raise TrainerError(
            "checkpoint_invalid",
            f"Cannot resume from step {meta.get('step')}: it was written by {saved_world} process(es), "
            f"this run has {par.world}",
        )
    set_peft_model_state_dict(model, adapter)
    optimizer.load_state_dict(opt["optimizer"])
    if scaler is not None and opt.get("scaler"):
        scaler.load_state_dict(opt["scaler"])
    set_rng_state(par.rng_of_rank(rng))
    return meta
