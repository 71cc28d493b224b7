"""Text LoRA on a causal LM with transformers + peft and a lean manual loop (see loop.py).

`TextSession` loads data and model (`prepare`), trains (`train`), then evaluates base vs adapter, runs the
quality check and writes the PEFT adapter, metrics.json and training_args.json (`finish`). Under torchrun
every rank prepares and trains (parallel.py); rank 0 alone checks quality and writes the results."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch

from . import checkpoint, data
from .config import TextTrainingSpec, spec_to_dict
from .errors import TrainerError
from .events import emit
from .loop import LoopResult, train_loop
from .output import Staging
from .parallel import Parallel
from .quality import perplexity, text_quality
from .util import Cancel, pick_device, pick_dtype, seed_all

log = logging.getLogger("trainer")
FINAL = ("adapter_config.json", "adapter_model.safetensors", "metrics.json", "training_args.json")


def load_base(spec: TextTrainingSpec, dtype: torch.dtype, allow_remote_code: bool) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    trust = spec.trust_remote_code
    if trust and not allow_remote_code:
        raise TrainerError(
            "config_invalid", "Cannot load with trust_remote_code true: the miner did not pass --allow-remote-code"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.base_model, trust_remote_code=trust)
        model = AutoModelForCausalLM.from_pretrained(spec.base_model, dtype=dtype, trust_remote_code=trust)
    except (OSError, ValueError) as err:
        raise TrainerError("model_not_found", f"Cannot load base model {spec.base_model!r}: {err}") from err
    return tokenizer, model


class TextSession:
    def __init__(
        self,
        spec: TextTrainingSpec,
        dataset: Path,
        out: Path,
        allow_remote_code: bool = False,
        par: Parallel | None = None,
    ) -> None:
        self.spec = spec
        self.par = par or Parallel()
        self.hp = spec.hyperparameters
        self.dataset = dataset
        self.out = out
        self.allow_remote_code = allow_remote_code
        self.device = pick_device()
        self.precision, self.dtype = pick_dtype(self.hp.precision, self.device)
        self.fingerprint = checkpoint.fingerprint(spec_to_dict(spec))
        self.start = 0
        self.base_eval: float | None = None
        self.last_saved = -1
        self.started_at = time.time()

    # ---- setup -------------------------------------------------------------------------------------------
    def prepare(self, resume: bool) -> None:
        hp = self.hp
        seed_all(hp.seed)
        examples = data.load_examples(self.dataset, self.spec.dataset)
        train_idx, eval_idx = data.split(len(examples), self.spec.dataset.eval_fraction, hp.seed)
        self.tokenizer, model = load_base(self.spec, self.dtype, self.allow_remote_code)
        tok = self.tokenizer
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)

        def encode(indices: list[int]) -> list[tuple[list[int], list[int]]]:
            out = [data.tokenize(tok, examples[i], hp.max_seq_length) for i in indices]
            out = [s for s in out if len(s[0]) >= 2 and any(t != data.IGNORE for t in s[1][1:])]
            return data.pack(out, hp.max_seq_length) if hp.packing else out

        self.train_samples = encode(train_idx)
        if not self.train_samples:
            raise data.bad(f"Cannot train on dataset {str(self.dataset)!r}: no sample has trainable tokens")
        eval_samples = encode(eval_idx)
        self.eval_on_train = not eval_samples
        if self.eval_on_train:
            log.warning(
                "no eval split (eval_fraction %s); evaluating on the train split", self.spec.dataset.eval_fraction
            )
            eval_samples = self.train_samples[:64]
        self.eval_count = len(eval_samples)
        bs = hp.batch_size
        self.eval_batches = [
            data.collate(eval_samples[i : i + bs], self.pad_id) for i in range(0, len(eval_samples), bs)
        ]
        self.batches_per_epoch = math.ceil(len(self.train_samples) / bs)
        if hp.max_steps is not None:
            self.total = hp.max_steps
        else:
            per_step = hp.gradient_accumulation * self.par.world
            self.total = max(1, math.ceil((hp.epochs or 1) * self.batches_per_epoch / per_step))
        self.model = self._with_lora(model)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.trainable_params = sum(p.numel() for p in trainable)
        self.optimizer = torch.optim.AdamW(trainable, lr=hp.learning_rate, weight_decay=0.0)
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "fp16" else None
        self._order_epoch = -1
        self._order: list[list[int]] = []
        meta = (
            checkpoint.restore(self.out, self.fingerprint, self.model, self.optimizer, self.scaler, self.par)
            if resume
            else None
        )
        if meta is not None:
            self.start = self.last_saved = int(meta["step"])
            self.base_eval = meta.get("base_eval_loss")
        self.par.sync_params(trainable, hp.seed, resumed=self.start > 0)

    def _with_lora(self, model: Any) -> Any:
        from peft import LoraConfig, get_peft_model

        hp = self.hp
        model.config.use_cache = False
        if hp.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        lora = LoraConfig(
            r=hp.rank,
            lora_alpha=hp.alpha,
            lora_dropout=hp.dropout,
            target_modules=hp.target_modules,
            task_type="CAUSAL_LM",
        )
        try:
            peft_model = get_peft_model(model, lora)
        except ValueError as err:
            raise TrainerError(
                "config_invalid", f"Cannot add LoRA (target_modules {hp.target_modules!r}): {err}"
            ) from err
        return peft_model.to(self.device)

    # ---- training ----------------------------------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.device.type == "cuda" and self.dtype != torch.float32:
            return torch.autocast("cuda", dtype=self.dtype)
        return contextlib.nullcontext()

    def micro_step(self, index: int) -> tuple[torch.Tensor, int, int | None]:
        epoch, pos = divmod(index, self.batches_per_epoch)
        if epoch != self._order_epoch:
            self._order = data.epoch_order(len(self.train_samples), self.hp.batch_size, self.hp.seed, epoch)
            self._order_epoch = epoch
        batch = data.collate([self.train_samples[i] for i in self._order[pos]], self.pad_id)
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        with self.autocast():
            loss = self.model(**batch).loss
        return loss, batch["input_ids"].shape[0], int(batch["attention_mask"].sum())

    def save_checkpoint(self, step: int, rng: dict[str, Any]) -> None:
        from peft import get_peft_model_state_dict

        if step == self.last_saved:
            return
        rngs = self.par.gather(rng)  # every rank's RNG, so each resumes its own dropout stream
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
                "kind": "text",
                "fingerprint": self.fingerprint,
                "total_steps": self.total,
                "micro_batches": step * self.hp.gradient_accumulation * self.par.world,
                "world_size": self.par.world,
                "base_eval_loss": self.base_eval,
            },
        )
        emit("checkpoint", step=step, path=str(path.relative_to(self.out)))

    @torch.no_grad()
    def evaluate(self) -> float:
        self.model.eval()
        total, count = 0.0, 0
        for batch in self.eval_batches:
            batch = {k: v.to(self.device) for k, v in batch.items()}
            with self.autocast():
                loss = self.model(**batch).loss.float().item()
            n = int((batch["labels"][:, 1:] != data.IGNORE).sum())
            total += loss * n
            count += n
        self.model.train()
        return total / max(count, 1)

    def emit_started(self) -> None:
        emit(
            "started",
            task_id=self.spec.task_id,
            kind="text",
            device=str(self.device),
            precision=self.precision,
            total_steps=self.total,
            start_step=self.start,
            train_samples=len(self.train_samples),
            eval_samples=self.eval_count,
            trainable_params=self.trainable_params,
        )

    def base_evaluation(self) -> None:
        if self.base_eval is None:
            with self.model.disable_adapter():
                self.base_eval = self.evaluate()
            emit("eval", step=0, eval_loss=self.base_eval, perplexity=perplexity(self.base_eval))

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
        )

    # ---- results -----------------------------------------------------------------------------------------
    def finish(self, result: LoopResult) -> None:
        from .util import rng_state

        self.save_checkpoint(self.total, rng_state())
        if not self.par.main:
            return
        adapter_eval = self.evaluate()
        emit("eval", step=self.total, eval_loss=adapter_eval, perplexity=perplexity(adapter_eval))
        base = self.base_eval if self.base_eval is not None else math.nan
        quality = text_quality(base, adapter_eval, self.spec.quality.min_improvement, self.eval_on_train)
        emit("quality", **quality)
        staging = Staging(self.out, FINAL)
        metrics = self.metrics(result, adapter_eval, quality)
        staging.write_json("metrics.json", metrics)
        if not quality["passed"]:
            staging.fail(["metrics.json"])
            raise TrainerError("quality_failed", f"Adapter failed the quality check: {quality['detail']}")
        self.model.save_pretrained(staging.dir)
        (staging.dir / "README.md").unlink(missing_ok=True)
        staging.write_json("training_args.json", self.training_args())
        artifacts = staging.commit(list(FINAL))
        checkpoint.remove_all(self.out)
        emit("done", artifacts=artifacts, metrics=metrics, quality=quality)

    def metrics(self, result: LoopResult, adapter_eval: float, quality: dict[str, Any]) -> dict[str, Any]:
        steps_run = len(result.step_seconds)
        return {
            "kind": "text",
            "steps": self.total,
            "steps_this_run": steps_run,
            "resumed_from_step": self.start,
            "train_loss_first": result.losses[0] if result.losses else None,
            "train_loss_last": result.losses[-1] if result.losses else None,
            "eval_loss": adapter_eval,
            "base_eval_loss": self.base_eval,
            "perplexity": perplexity(adapter_eval),
            "base_perplexity": perplexity(self.base_eval) if self.base_eval is not None else None,
            "eval_on_train": self.eval_on_train,
            "train_samples": len(self.train_samples),
            "eval_samples": self.eval_count,
            "train_tokens_this_run": result.tokens,
            "seconds_per_step": sum(result.step_seconds) / steps_run if steps_run else None,
            "runtime_s": time.time() - self.started_at,
            "quality_passed": quality["passed"],
            "device": str(self.device),
            "processes": self.par.world,
            "precision": self.precision,
        }

    def training_args(self) -> dict[str, Any]:
        import peft
        import transformers

        lora = self.model.peft_config["default"]
        return {
            "spec": spec_to_dict(self.spec),
            "resolved": {
                "device": str(self.device),
                "precision": self.precision,
                "total_steps": self.total,
                "batches_per_epoch": self.batches_per_epoch,
                "processes": self.par.world,
                "target_modules": sorted(lora.target_modules) if lora.target_modules else None,
                "max_grad_norm": 1.0,
                "optimizer": "AdamW(weight_decay=0)",
            },
            "versions": {
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "peft": peft.__version__,
            },
        }


def run_text(
    spec: TextTrainingSpec,
    dataset: Path,
    out: Path,
    resume: bool,
    cancel: Cancel,
    par: Parallel,
    allow_remote_code: bool = False,
) -> None:
    session = TextSession(spec, dataset, out, allow_remote_code, par)
    session.prepare(resume)
    session.emit_started()
    session.base_evaluation()
    result = session.train(cancel)
    session.finish(result)
