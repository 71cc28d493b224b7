"""What every training run does, text or image: resolve device and precision, count the steps, build the
optimizer from the spec, restore a checkpoint, evaluate the base, run the loop (loop.py), save step-numbered
checkpoints, then evaluate the adapter, check quality and write metrics.json, training_args.json and the
adapter through a staging folder (output.py).

A kind subclasses `Session` and supplies only what differs: `load` (data, then the model with its LoRA, in
the memory mode `choose_mode` picks from the card), `epoch_order` and `micro_step` (its batches and loss),
`evaluate`/`evaluate_base`, `check_quality`, `save_adapter`, the blocks worth compiling, and its own metrics,
resolved settings and library versions. The speed levers (speed.py) are resolved here: attention before the
load, then compile, fused AdamW and TF32 once the step count is known. Under torchrun every rank prepares and
trains (parallel.py); rank 0 alone evaluates the adapter, checks quality and writes results."""

from __future__ import annotations

import importlib.util
import logging
import math
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import torch

from . import checkpoint, modes, optim, speed
from .cancel import Cancel
from .config import CommonHyperparameters, ImageTrainingSpec, TextTrainingSpec, spec_to_dict
from .device import free_memory_mib, pick_device, pick_dtype
from .errors import TrainerError
from .events import emit
from .loop import LoopResult, train_loop
from .output import Staging
from .parallel import Parallel
from .rng import rng_state, seed_all

log = logging.getLogger("trainer")


def total_steps(hp: CommonHyperparameters, batches_per_epoch: int, world: int) -> int:
    """`max_steps` wins; else `epochs` (default 1) of the train split, a step taking accumulation × ranks batches."""
    if hp.max_steps is not None:
        return hp.max_steps
    per_step = hp.gradient_accumulation * world
    return max(1, math.ceil((hp.epochs or 1) * batches_per_epoch / per_step))


class Session(ABC):
    kind: ClassVar[str]
    final_files: ClassVar[tuple[str, ...]]

    model: Any  # the module holding the LoRA: its state dict is what checkpoints save
    batches_per_epoch: int
    total: int
    choice: modes.Choice  # the memory mode, set by the kind's load through choose_mode
    per_forward: int = 1  # micro-batches per forward pass (speed.merge_micro_batches)

    def __init__(
        self, spec: TextTrainingSpec | ImageTrainingSpec, dataset: Path, out: Path, par: Parallel | None = None
    ) -> None:
        self.spec = spec
        self.hp: CommonHyperparameters = spec.hyperparameters
        self.dataset = dataset
        self.out = out
        self.par = par or Parallel()
        self.device = pick_device()
        self.precision, self.dtype = pick_dtype(self.hp.precision, self.device)
        self.attention = speed.attention_of(self.hp.speed, self.device.type == "cuda", speed.flash_installed())
        self.fingerprint = checkpoint.fingerprint(spec_to_dict(spec))
        self.start = 0
        self.last_saved = -1
        self.base_eval: float | None = None
        self.started_at = time.time()
        self._order_epoch = -1
        self._order: list[list[int]] = []

    # ---- what a kind supplies ----------------------------------------------------------------------------
    @abstractmethod
    def load(self) -> None:
        """Load the data and the model with its LoRA: set `model`, `batches_per_epoch` and the split sizes."""

    @property
    @abstractmethod
    def train_count(self) -> int: ...

    @property
    @abstractmethod
    def eval_count(self) -> int: ...

    @abstractmethod
    def epoch_order(self, epoch: int) -> list[list[int]]:
        """The train split's batches (lists of indices) for `epoch`: a pure function of seed and epoch."""

    @abstractmethod
    def micro_step(self, indices: list[int]) -> tuple[torch.Tensor, int, int | None]:
        """Forward pass of the run's listed micro-batches: (sum of their mean losses, samples, tokens or None)."""

    @abstractmethod
    def evaluate(self) -> float | None:
        """The adapter's eval loss (None: this kind has nothing to evaluate on)."""

    @abstractmethod
    def evaluate_base(self) -> float | None:
        """The same eval with the adapter disabled."""

    @abstractmethod
    def check_quality(self, staging: Staging, adapter_eval: float | None) -> tuple[dict[str, Any], list[str]]:
        """The `quality` result, and the files it wrote into staging that are kept either way (samples)."""

    @abstractmethod
    def save_adapter(self, staging: Staging) -> None:
        """Write the adapter's final files into staging."""

    def perplexity_of(self, loss: float) -> float | None:
        return None

    def compile_targets(self) -> list[torch.nn.Module]:
        """The repeated blocks `speed.compile` compiles one by one."""
        return []

    def kind_metrics(self, result: LoopResult, adapter_eval: float | None, quality: dict[str, Any]) -> dict[str, Any]:
        return {}

    def resolved_args(self) -> dict[str, Any]:
        return {}

    def library_versions(self) -> dict[str, str]:
        return {}

    # ---- setup -------------------------------------------------------------------------------------------
    def run(self, resume: bool, cancel: Cancel) -> None:
        self.prepare(resume)
        self.emit_started()
        self.base_evaluation()
        self.finish(self.train(cancel))

    def prepare(self, resume: bool) -> None:
        seed_all(self.hp.seed)  # before the model loads: the LoRA init draws from it
        self.load()
        self.total = total_steps(self.hp, self.batches_per_epoch, self.par.world)
        self.levers = speed.resolve(self.hp.speed, self.device, self.total)
        speed.apply_tf32(self.levers.tf32)
        if self.levers.compile:
            speed.compile_blocks(self.compile_targets(), dynamic=True if self.kind == "text" else None)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.trainable_params = sum(p.numel() for p in trainable)
        self.optimizer = optim.build_optimizer(trainable, self.hp, fused=self.levers.fused_optimizer)
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "fp16" else None
        meta = (
            checkpoint.restore(self.out, self.fingerprint, self.model, self.optimizer, self.scaler, self.par)
            if resume
            else None
        )
        if meta is not None:
            self.start = self.last_saved = int(meta["step"])
            self.base_eval = meta.get("base_eval_loss")
        self.par.sync_params(trainable, self.hp.seed, resumed=self.start > 0)

    def emit_started(self) -> None:
        emit(
            "started", task_id=self.spec.task_id, kind=self.kind, device=str(self.device), precision=self.precision,
            total_steps=self.total, start_step=self.start, train_samples=self.train_count,
            eval_samples=self.eval_count, trainable_params=self.trainable_params, mode=self.choice.name,
            mode_reason=self.choice.reason,
        )  # fmt: skip

    def choose_mode(self, w: modes.Workload, quantization: str = "none", merge: bool = False) -> modes.Choice:
        """The memory mode for this card: every rank decides from the smallest free memory among them, so
        all take the same mode."""
        free = free_memory_mib(self.device)
        if free is not None:
            free = self.par.min_(free)
        hp = self.hp
        available = frozenset(p for p in ("bitsandbytes",) if importlib.util.find_spec(p) is not None)
        self.choice = modes.choose(
            w, free, quantization=quantization, checkpointing=hp.gradient_checkpointing,
            as_given=hp.speed.mode == "as_given", available=available, accumulation=hp.gradient_accumulation,
            merge=merge,
        )  # fmt: skip
        log.info("mode %s", self.choice.reason)
        return self.choice

    def emit_eval(self, step: int, loss: float) -> None:
        emit("eval", step=step, eval_loss=loss, perplexity=self.perplexity_of(loss))

    def base_evaluation(self) -> None:
        """Fresh runs only: a resumed run has the base loss in its checkpoint."""
        if self.base_eval is None:
            self.base_eval = self.evaluate_base()
            if self.base_eval is not None:
                self.emit_eval(0, self.base_eval)

    # ---- training ----------------------------------------------------------------------------------------
    def batch_indices(self, index: int) -> list[int]:
        epoch, pos = divmod(index, self.batches_per_epoch)
        if epoch != self._order_epoch:
            self._order = self.epoch_order(epoch)
            self._order_epoch = epoch
        return self._order[pos]

    def train(self, cancel: Cancel) -> LoopResult:
        self.model.train()
        return train_loop(
            hp=self.hp,
            params=self.model.parameters(),
            optimizer=self.optimizer,
            scaler=self.scaler,
            micro_step=self.micro_step,
            start=self.start,
            total=self.total,
            device=self.device,
            cancel=cancel,
            save_checkpoint=self.save_checkpoint,
            par=self.par,
            per_forward=self.per_forward,
        )

    def save_checkpoint(self, step: int, rng: dict[str, Any]) -> None:
        from peft import get_peft_model_state_dict

        if step == self.last_saved:
            return
        rngs = self.par.gather(rng)  # every rank's RNG, so each resumes its own dropout/noise stream
        self.last_saved = step
        if not self.par.main:
            return
        path = checkpoint.save(
            self.out,
            step,
            get_peft_model_state_dict(self.model),
            {"optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict() if self.scaler else None},
            rngs,
            {
                "kind": self.kind,
                "fingerprint": self.fingerprint,
                "total_steps": self.total,
                "micro_batches": step * self.hp.gradient_accumulation * self.par.world,
                "world_size": self.par.world,
                "base_eval_loss": self.base_eval,
            },
        )
        emit("checkpoint", step=step, path=str(path.relative_to(self.out)))

    # ---- results -----------------------------------------------------------------------------------------
    def finish(self, result: LoopResult) -> None:
        self.save_checkpoint(self.total, rng_state())
        if not self.par.main:
            return
        adapter_eval = self.evaluate()
        if adapter_eval is not None:
            self.emit_eval(self.total, adapter_eval)
        staging = Staging(self.out, self.final_files)
        quality, kept = self.check_quality(staging, adapter_eval)
        emit("quality", **quality)
        metrics = {**self.metrics(result, adapter_eval, quality), **self.kind_metrics(result, adapter_eval, quality)}
        staging.write_json("metrics.json", metrics)
        if not quality["passed"]:
            staging.fail(["metrics.json", *kept])
            raise TrainerError("quality_failed", f"Adapter failed the quality check: {quality['detail']}")
        self.save_adapter(staging)
        staging.write_json("training_args.json", self.training_args())
        artifacts = staging.commit([*self.final_files, *kept])
        checkpoint.remove_all(self.out)
        emit("done", artifacts=artifacts, metrics=metrics, quality=quality)

    def metrics(self, result: LoopResult, adapter_eval: float | None, quality: dict[str, Any]) -> dict[str, Any]:
        steps_run = len(result.step_seconds)
        return {
            "kind": self.kind,
            "steps": self.total,
            "steps_this_run": steps_run,
            "resumed_from_step": self.start,
            "train_loss_first": result.losses[0] if result.losses else None,
            "train_loss_last": result.losses[-1] if result.losses else None,
            "eval_loss": adapter_eval,
            "base_eval_loss": self.base_eval,
            "train_samples": self.train_count,
            "eval_samples": self.eval_count,
            "seconds_per_step": sum(result.step_seconds) / steps_run if steps_run else None,
            "runtime_s": time.time() - self.started_at,
            "quality_passed": quality["passed"],
            "device": str(self.device),
            "processes": self.par.world,
            "precision": self.precision,
            "mode": self.choice.name,
            "micro_batches_per_forward": self.per_forward,
        }

    def training_args(self) -> dict[str, Any]:
        """The spec as applied plus what it resolved to, so a result can be reproduced and audited."""
        import peft

        return {
            "spec": spec_to_dict(self.spec),
            "resolved": {
                "device": str(self.device),
                "precision": self.precision,
                "total_steps": self.total,
                "batches_per_epoch": self.batches_per_epoch,
                "processes": self.par.world,
                "optimizer": optim.describe(self.optimizer, self.hp),
                "mode": {
                    "name": self.choice.name,
                    "reason": self.choice.reason,
                    "estimate_mib": round(self.choice.estimate_mib),
                    "table_measured": modes.table()["measured"],
                    "micro_batches_per_forward": self.per_forward,
                },
                "speed": self.levers.describe(),
                **self.resolved_args(),
            },
            "versions": {"torch": torch.__version__, "peft": peft.__version__, **self.library_versions()},
        }
