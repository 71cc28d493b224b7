"""Text LoRA on a causal LM with transformers + peft; the run's skeleton is session.py.

What is text-only: tokenized (optionally packed) samples and their per-epoch batch order, the LM loss on
padding-free batches (speed.padding_free: a micro-batch's samples in one row, each attending only to itself,
data.collate_flat + attention.py) or padded ones, a token-weighted eval loss with perplexity, the perplexity
quality check, and the PEFT adapter folder (`adapter_config.json` + `adapter_model.safetensors`)."""

from __future__ import annotations

import contextlib
import logging
import math
from pathlib import Path
from typing import Any, ClassVar

import torch

from . import attention, data, modes
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


def attn_implementation(kind: str, padding_free: bool) -> str:
    """transformers' `attn_implementation` for speed.attention resolved to `kind` (sdpa | flash)."""
    if kind == "flash":
        return "flash_attention_2"  # reads the position ids / cu_seq_lens of padding-free batches itself
    return attention.register() if padding_free else "sdpa"


def load_base(
    spec: TextTrainingSpec, dtype: torch.dtype, allow_remote_code: bool, attn: str = "sdpa"
) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    trust = spec.trust_remote_code
    if trust and not allow_remote_code:
        raise TrainerError(
            "config_invalid", "Cannot load with trust_remote_code true: the miner did not pass --allow-remote-code"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.base_model, trust_remote_code=trust)
        model = AutoModelForCausalLM.from_pretrained(
            spec.base_model, dtype=dtype, trust_remote_code=trust, attn_implementation=attn
        )
    except (OSError, ValueError) as err:
        raise TrainerError("model_not_found", f"Cannot load base model {spec.base_model!r}: {err}") from err
    return tokenizer, model


def add_lora(model: Any, hp: TextHyperparameters, checkpointing: bool, device: torch.device) -> Any:
    """The peft LoRA from the spec on `model` (activation checkpointing first if the mode says so), moved to
    `device`; bench/gpu_check.py prepares its 7B model with this too."""
    from peft import LoraConfig, get_peft_model

    model.config.use_cache = False  # training: a cache also keeps transformers from masking packed rows
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    lora = LoraConfig(
        r=hp.rank, lora_alpha=hp.alpha, lora_dropout=hp.dropout, target_modules=hp.target_modules,
        task_type="CAUSAL_LM",
    )  # fmt: skip
    try:
        peft_model = get_peft_model(model, lora)
    except ValueError as err:
        raise TrainerError("config_invalid", f"Cannot add LoRA (target_modules {hp.target_modules!r}): {err}") from err
    return peft_model.to(device)


def layers_of(peft_model: Any) -> list[torch.nn.Module]:
    """The repeated decoder layers regional compilation compiles one by one."""
    base = peft_model.get_base_model()
    inner = getattr(base, base.base_model_prefix, base)
    layers = getattr(inner, "layers", None) or getattr(inner, "h", None)  # Llama/Qwen/Mistral; GPT-2
    return list(layers) if layers is not None else []


def autocast_for(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager[Any]:
    if device.type == "cuda" and dtype != torch.float32:
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def forward_loss(
    model: Any, rows: list[data.Block], *, padding_free: bool, pad_id: int, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, int, int]:
    """One micro-batch's LM loss (mean over its trained tokens), samples and real tokens: the step the
    trainer and bench/gpu_check.py both time."""
    batch = data.collate_flat(rows) if padding_free else data.collate(rows, pad_id)
    with autocast_for(device, dtype):
        loss = model(**to_device(batch, device)).loss
    return loss, len(rows), data.tokens_in(rows)


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
        self.padding_free = hp.speed.padding_free
        attn = attn_implementation(self.attention, self.padding_free)
        self.tokenizer, model = load_base(self.spec, self.dtype, self.allow_remote_code, attn)
        tok = self.tokenizer
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)

        def encode(indices: list[int]) -> list[data.Block]:
            out = [data.tokenize(tok, examples[i], hp.max_seq_length) for i in indices]
            out = [s for s in out if len(s[0]) >= 2 and any(t != data.IGNORE for t in s[1][1:])]
            return data.pack(out, hp.max_seq_length) if hp.packing else [[s] for s in out]

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
        self.eval_batches = [self.collate(eval_samples[i : i + bs]) for i in range(0, len(eval_samples), bs)]
        self.batches_per_epoch = math.ceil(len(self.train_samples) / bs)
        params_b = sum(p.numel() for p in model.parameters()) / 1e9
        tokens = modes.tokens_of("text", bs, hp.max_seq_length)
        self.choose_mode(modes.Workload("text", params_b, tokens, hp.rank, self.precision))
        self.model = add_lora(model, hp, self.choice.mode.checkpointing, self.device)

    def collate(self, rows: list[data.Block]) -> dict[str, Any]:
        return data.collate_flat(rows) if self.padding_free else data.collate(rows, self.pad_id)

    @property
    def train_count(self) -> int:
        return len(self.train_samples)

    @property
    def eval_count(self) -> int:
        return self._eval_count

    # ---- training ----------------------------------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        return autocast_for(self.device, self.dtype)

    def epoch_order(self, epoch: int) -> list[list[int]]:
        return data.epoch_order(len(self.train_samples), self.hp.batch_size, self.hp.seed, epoch)

    def micro_step(self, indices: list[int]) -> tuple[torch.Tensor, int, int | None]:
        loss = torch.zeros((), device=self.device)
        samples = tokens = 0
        for index in indices:  # one at a time: text never merges micro-batches (their token means differ)
            rows = [self.train_samples[i] for i in self.batch_indices(index)]
            one, n, t = forward_loss(
                self.model, rows, padding_free=self.padding_free, pad_id=self.pad_id, device=self.device,
                dtype=self.dtype,
            )  # fmt: skip
            loss, samples, tokens = loss + one, samples + n, tokens + t
        return loss, samples, tokens

    def compile_targets(self) -> list[torch.nn.Module]:
        return layers_of(self.model)

    # ---- evaluation and results --------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> float:
        """Token-weighted mean loss over the eval batches, so batch padding does not skew it."""
        self.model.eval()
        total, count = 0.0, 0
        for batch in self.eval_batches:
            batch = to_device(batch, self.device)
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
        return {
            "target_modules": sorted(lora.target_modules) if lora.target_modules else None,
            "attn_implementation": self.model.config._attn_implementation,
            "padding_free": self.padding_free,
        }

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
