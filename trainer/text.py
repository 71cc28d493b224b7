"""Text LoRA on a causal LM with transformers + peft; the run's skeleton is session.py.

What is text-only: tokenized (optionally packed) samples and their per-epoch batch order, the LM loss,
a token-weighted eval loss with perplexity, the perplexity quality check, and the PEFT adapter folder
(`adapter_config.json` + `adapter_model.safetensors`) as the result."""

from __future__ import annotations

import contextlib
import logging
import math
from pathlib import Path
from typing import Any, ClassVar

import torch

from . import data
from .cancel import Cancel
from .config import TextHyperparameters, TextTrainingSpec
from .errors import TrainerError
from .loop import LoopResult
from .output import Staging
from .parallel import Parallel
from .quality import perplexity, text_quality
from .session import Session

log = logging.getLogger("trainer")
FINAL = ("adapter_config.json", "adapter_model.safetensors", "metrics.json", "training_args.json")
FALLBACK_EVAL_SAMPLES = 64  # without an eval split, evaluate on this many train samples


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


class TextSession(Session):
    kind: ClassVar[str] = "text"
    final_files: ClassVar[tuple[str, ...]] = FINAL
    spec: TextTrainingSpec
    hp: TextHyperparameters

    def __init__(
        self,
        spec: TextTrainingSpec,
        dataset: Path,
        out: Path,
        allow_remote_code: bool = False,
        par: Parallel | None = None,
    ) -> None:
        super().__init__(spec, dataset, out, par)
        self.allow_remote_code = allow_remote_code

    # ---- setup -------------------------------------------------------------------------------------------
    def load(self) -> None:
        hp = self.hp
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
            eval_samples = self.train_samples[:FALLBACK_EVAL_SAMPLES]
        self._eval_count = len(eval_samples)
        bs = hp.batch_size
        self.eval_batches = [
            data.collate(eval_samples[i : i + bs], self.pad_id) for i in range(0, len(eval_samples), bs)
        ]
        self.batches_per_epoch = math.ceil(len(self.train_samples) / bs)
        self.model = self._with_lora(model)

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

    @property
    def train_count(self) -> int:
        return len(self.train_samples)

    @property
    def eval_count(self) -> int:
        return self._eval_count

    # ---- training ----------------------------------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.device.type == "cuda" and self.dtype != torch.float32:
            return torch.autocast("cuda", dtype=self.dtype)
        return contextlib.nullcontext()

    def epoch_order(self, epoch: int) -> list[list[int]]:
        return data.epoch_order(len(self.train_samples), self.hp.batch_size, self.hp.seed, epoch)

    def micro_step(self, index: int) -> tuple[torch.Tensor, int, int | None]:
        batch = data.collate([self.train_samples[i] for i in self.batch_indices(index)], self.pad_id)
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        with self.autocast():
            loss = self.model(**batch).loss
        return loss, batch["input_ids"].shape[0], int(batch["attention_mask"].sum())

    # ---- evaluation and results --------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> float:
        """Token-weighted mean loss over the eval batches, so batch padding does not skew it."""
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

    def evaluate_base(self) -> float:
        with self.model.disable_adapter():
            return self.evaluate()

    def perplexity_of(self, loss: float) -> float | None:
        return perplexity(loss)

    def check_quality(self, staging: Staging, adapter_eval: float | None) -> tuple[dict[str, Any], list[str]]:
        base = self.base_eval if self.base_eval is not None else math.nan
        adapter = adapter_eval if adapter_eval is not None else math.nan
        return text_quality(base, adapter, self.spec.quality.min_improvement, self.eval_on_train), []

    def save_adapter(self, staging: Staging) -> None:
        self.model.save_pretrained(staging.dir)
        (staging.dir / "README.md").unlink(missing_ok=True)  # peft's placeholder card; the miner writes its own

    def kind_metrics(self, result: LoopResult, adapter_eval: float | None, quality: dict[str, Any]) -> dict[str, Any]:
        return {
            "perplexity": perplexity(adapter_eval) if adapter_eval is not None else None,
            "base_perplexity": perplexity(self.base_eval) if self.base_eval is not None else None,
            "eval_on_train": self.eval_on_train,
            "train_tokens_this_run": result.tokens,
        }

    def resolved_args(self) -> dict[str, Any]:
        lora = self.model.peft_config["default"]
        return {"target_modules": sorted(lora.target_modules) if lora.target_modules else None}

    def library_versions(self) -> dict[str, str]:
        import transformers

        return {"transformers": transformers.__version__}


def run_text(
    spec: TextTrainingSpec,
    dataset: Path,
    out: Path,
    resume: bool,
    cancel: Cancel,
    par: Parallel,
    allow_remote_code: bool = False,
) -> None:
    TextSession(spec, dataset, out, allow_remote_code, par).run(resume, cancel)
