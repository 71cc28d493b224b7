"""The training spec read from `--task task.json`: dataclasses that mirror `TrainingSpec` in
core/training.ts (tests compare fields, defaults and enums with trainer/schema/training_spec.schema.json).

Each field carries its help and bounds in `metadata`; `__post_init__` checks them and raises ValueError
naming the field and value. `parse_spec` applies defaults, rejects unknown keys and turns any
problem into TrainerError("config_invalid").
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import TrainerError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
LR_SCHEDULERS = ("constant", "linear", "cosine")
QUANTIZATIONS = ("none", "fp8", "nf4")
TEXT_FORMATS = ("auto", "jsonl", "csv", "parquet")
IMAGE_FORMATS = ("auto", "folder", "metadata")
SPEED_MODES = ("auto", "as_given")
COMPILE_POLICIES = ("auto", "on", "off")
ATTENTIONS = ("auto", "sdpa", "flash")
TASK_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def spec(help: str, kind: str, **bounds: Any) -> dict[str, Any]:
    """Field metadata: `kind` is int | number | bool | str | str_list | enum | object; bounds as in JSON Schema
    (minimum, exclusiveMinimum, maximum, exclusiveMaximum, enum, nullable, minItems, minLength)."""
    return {"help": help, "kind": kind, **bounds}


def _check(name: str, value: Any, meta: dict[str, Any]) -> None:
    kind = meta["kind"]
    if value is None:
        if meta.get("nullable"):
            return
        raise ValueError(f"{name} must not be null")
    if kind == "object":
        return
    if kind in ("int", "number"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name} must be a number, got {value!r}")
        if kind == "int" and not float(value).is_integer():
            raise ValueError(f"{name} must be an integer, got {value!r}")
        for key, ok in (
            ("minimum", lambda b: value >= b),
            ("exclusiveMinimum", lambda b: value > b),
            ("maximum", lambda b: value <= b),
            ("exclusiveMaximum", lambda b: value < b),
        ):
            if key in meta and not ok(meta[key]):
                raise ValueError(f"{name} is {value!r} but must satisfy {key} {meta[key]}")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be a boolean, got {value!r}")
    elif kind in ("str", "enum"):
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string, got {value!r}")
        if kind == "enum" and value not in meta["enum"]:
            raise ValueError(f"{name} is {value!r} but must be one of {', '.join(meta['enum'])}")
        if len(value) < meta.get("minLength", 0):
            raise ValueError(f"{name} must not be empty")
    elif kind == "str_list":
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"{name} must be a list of non-empty strings, got {value!r}")
        if len(value) < meta.get("minItems", 0):
            raise ValueError(f"{name} must have at least {meta['minItems']} item(s)")


class Checked:
    """Runs the metadata checks of every field after init."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            _check(f.name, getattr(self, f.name), dict(f.metadata))


POS_INT = {"exclusiveMinimum": 0}
NONNEG_INT = {"minimum": 0}
FRACTION = {"minimum": 0, "exclusiveMaximum": 1}


@dataclass
class Speed(Checked):
    """How fast a run goes, never what it learns (left out of the checkpoint fingerprint); speed.py and
    modes.py resolve each field for the device, and core/training.ts says why each default."""

    mode: str = field(
        default="auto",
        metadata=spec("auto: fastest memory mode that fits the card; as_given: the spec's", "enum", enum=SPEED_MODES),
    )
    compile: str = field(
        default="auto", metadata=spec("torch.compile; auto: on CUDA for long runs only", "enum", enum=COMPILE_POLICIES)
    )
    attention: str = field(
        default="auto", metadata=spec("auto: flash when installed on CUDA, else sdpa", "enum", enum=ATTENTIONS)
    )
    padding_free: bool = field(
        default=True, metadata=spec("Text: concatenate a micro-batch's samples instead of padding them", "bool")
    )
    merge_micro_batches: bool = field(
        default=True, metadata=spec("Run accumulation micro-batches as one forward pass when memory allows", "bool")
    )
    fused_optimizer: bool = field(default=True, metadata=spec("Fused AdamW on CUDA", "bool"))
    tf32: bool = field(default=True, metadata=spec("TF32 matmuls for the fp32 parts on CUDA", "bool"))


@dataclass
class CommonHyperparameters(Checked):
    rank: int = field(default=16, metadata=spec("LoRA rank r", "int", **POS_INT))
    alpha: float = field(default=32, metadata=spec("LoRA alpha (scale = alpha / rank)", "number", **POS_INT))
    dropout: float = field(default=0.05, metadata=spec("LoRA dropout", "number", **FRACTION))
    target_modules: list[str] | None = field(
        default=None,
        metadata=spec(
            "Module names to adapt; null: the family's attention projections", "str_list", nullable=True, minItems=1
        ),
    )
    learning_rate: float = field(default=1e-4, metadata=spec("Peak learning rate", "number", **POS_INT))
    lr_scheduler: str = field(default="constant", metadata=spec("LR schedule after warmup", "enum", enum=LR_SCHEDULERS))
    warmup_steps: int = field(default=0, metadata=spec("Linear warmup steps", "int", **NONNEG_INT))
    max_steps: int | None = field(
        default=None, metadata=spec("Optimizer steps; wins over epochs", "int", nullable=True, **POS_INT)
    )
    epochs: float | None = field(
        default=None,
        metadata=spec("Passes over the train split (null with max_steps null: 1)", "number", nullable=True, **POS_INT),
    )
    batch_size: int = field(default=1, metadata=spec("Samples per micro-batch", "int", **POS_INT))
    gradient_accumulation: int = field(default=1, metadata=spec("Micro-batches per optimizer step", "int", **POS_INT))
    seed: int = field(default=42, metadata=spec("Seed for split, data order, init and noise", "int", **NONNEG_INT))
    precision: str = field(
        default="auto", metadata=spec("auto: bf16/fp16 on GPU, fp32 on CPU", "enum", enum=PRECISIONS)
    )
    gradient_checkpointing: bool = field(default=False, metadata=spec("Trade compute for memory", "bool"))
    checkpoint_every: int = field(
        default=100, metadata=spec("Checkpoint every N steps (0: only on SIGTERM and at the end)", "int", **NONNEG_INT)
    )
    # The optimizer (AdamW) and clipping; core/training.ts says why each default.
    weight_decay: float = field(default=0, metadata=spec("AdamW decoupled weight decay (0: none)", "number", minimum=0))
    adam_beta1: float = field(default=0.9, metadata=spec("AdamW first-moment decay", "number", **FRACTION))
    adam_beta2: float = field(default=0.999, metadata=spec("AdamW second-moment decay", "number", **FRACTION))
    max_grad_norm: float = field(
        default=1, metadata=spec("Clip the gradient norm to this per step (0: no clipping)", "number", minimum=0)
    )
    speed: Speed = field(default_factory=Speed, metadata=spec("Speed levers (how fast, not what is trained)", "object"))


@dataclass
class TextHyperparameters(CommonHyperparameters):
    max_seq_length: int = field(default=1024, metadata=spec("Tokens per sample or packed block", "int", **POS_INT))
    packing: bool = field(default=False, metadata=spec("Pack samples into full blocks instead of padding", "bool"))


@dataclass
class ImageHyperparameters(CommonHyperparameters):
    resolution: int = field(default=1024, metadata=spec("Bucket area is about resolution²", "int", **POS_INT))
    guidance_scale: float = field(
        default=1, metadata=spec("Guidance fed to guidance-distilled FLUX", "number", minimum=0)
    )
    quantization: str = field(
        default="none", metadata=spec("Frozen base weights: none | fp8 | nf4", "enum", enum=QUANTIZATIONS)
    )


def _col(help: str) -> Any:
    return field(default=None, metadata=spec(help, "str", nullable=True))


@dataclass
class TextColumns(Checked):
    text: str | None = _col("Plain text column")
    prompt: str | None = _col("Prompt column (with response)")
    response: str | None = _col("Response column (with prompt)")
    instruction: str | None = _col("Instruction column (with output, optional input)")
    input: str | None = _col("Optional input column for instruction data")
    output: str | None = _col("Output column for instruction data")
    messages: str | None = _col("Chat messages column (list of {role, content})")


@dataclass
class TextDataset(Checked):
    format: str = field(default="auto", metadata=spec("File format; auto: by extension", "enum", enum=TEXT_FORMATS))
    columns: TextColumns = field(default_factory=TextColumns, metadata=spec("Column mapping", "object"))
    eval_fraction: float = field(default=0.1, metadata=spec("Held-out fraction", "number", **FRACTION))


@dataclass
class ImageDataset(Checked):
    format: str = field(
        default="auto", metadata=spec("folder: .txt sidecars; metadata: metadata.jsonl", "enum", enum=IMAGE_FORMATS)
    )
    caption_column: str = field(default="caption", metadata=spec("Caption key in metadata.jsonl", "str"))
    eval_fraction: float = field(default=0.1, metadata=spec("Held-out fraction", "number", **FRACTION))


@dataclass
class TextQuality(Checked):
    min_improvement: float = field(
        default=0.01, metadata=spec("Pass if adapter loss <= base loss * (1 - this)", "number", **FRACTION)
    )


@dataclass
class ImageQuality(Checked):
    prompts: list[str] = field(
        default_factory=lambda: ["a photo"], metadata=spec("Sample prompts", "str_list", minItems=1)
    )
    seed: int = field(default=0, metadata=spec("Sampling seed", "int", **NONNEG_INT))
    num_inference_steps: int = field(default=20, metadata=spec("Sampling steps", "int", **POS_INT))
    min_difference: float = field(
        default=0.001, metadata=spec("Min mean abs pixel difference from base (0..1)", "number", minimum=0, maximum=1)
    )


class SpecChecks(Checked):
    def __post_init__(self) -> None:
        super().__post_init__()
        task_id = self.task_id  # type: ignore[attr-defined]
        if len(task_id) > 128 or not TASK_ID_RE.match(task_id):
            raise ValueError(f"task_id {task_id!r} must match {TASK_ID_RE.pattern} and be at most 128 chars")


@dataclass
class TextTrainingSpec(SpecChecks):
    task_id: str = field(metadata=spec("Task id", "str", minLength=1))
    base_model: str = field(metadata=spec("HF repo id or local path", "str", minLength=1))
    type: str = field(default="text", metadata=spec("Spec variant", "enum", enum=("text",)))
    schema_version: int = field(default=1, metadata=spec("Contract version", "int", minimum=1, maximum=1))
    trust_remote_code: bool = field(default=False, metadata=spec("Allow model code from the repo", "bool"))
    hyperparameters: TextHyperparameters = field(default_factory=TextHyperparameters, metadata=spec("", "object"))
    dataset: TextDataset = field(default_factory=TextDataset, metadata=spec("", "object"))
    quality: TextQuality = field(default_factory=TextQuality, metadata=spec("", "object"))


@dataclass
class ImageTrainingSpec(SpecChecks):
    task_id: str = field(metadata=spec("Task id", "str", minLength=1))
    base_model: str = field(metadata=spec("HF repo id or local path", "str", minLength=1))
    type: str = field(default="image", metadata=spec("Spec variant", "enum", enum=("image",)))
    schema_version: int = field(default=1, metadata=spec("Contract version", "int", minimum=1, maximum=1))
    trust_remote_code: bool = field(default=False, metadata=spec("Allow model code from the repo", "bool"))
    hyperparameters: ImageHyperparameters = field(default_factory=ImageHyperparameters, metadata=spec("", "object"))
    dataset: ImageDataset = field(default_factory=ImageDataset, metadata=spec("", "object"))
    quality: ImageQuality = field(default_factory=ImageQuality, metadata=spec("", "object"))


TrainingSpec = TextTrainingSpec | ImageTrainingSpec


def _build(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{path or 'task'} must be an object, got {data!r}")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValueError(f"{path + '.' if path else ''}{unknown[0]} is not a known field")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        f = names[name]
        sub = f.default_factory() if f.default_factory is not dataclasses.MISSING else None  # type: ignore[misc]
        if dataclasses.is_dataclass(sub) and value is not None:
            kwargs[name] = _build(type(sub), value, f"{path}.{name}" if path else name)
        else:
            kwargs[name] = value
    missing = [
        f.name
        for f in names.values()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in kwargs
    ]
    if missing:
        raise ValueError(f"{path + '.' if path else ''}{missing[0]} is required")
    try:
        return cls(**kwargs)
    except ValueError as err:
        raise ValueError(f"{path + '.' if path else ''}{err}") from None


def parse_spec(data: Any) -> TrainingSpec:
    """Validate a task dict and fill defaults, or raise TrainerError("config_invalid")."""
    try:
        if not isinstance(data, dict):
            raise ValueError(f"task must be an object, got {type(data).__name__}")
        kind = data.get("type")
        if kind == "text":
            return _build(TextTrainingSpec, data, "")
        if kind == "image":
            return _build(ImageTrainingSpec, data, "")
        raise ValueError(f"type is {kind!r} but must be 'text' or 'image'")
    except ValueError as err:
        raise TrainerError("config_invalid", f"Cannot read task: {err}") from None


def spec_to_dict(value: Any) -> dict[str, Any]:
    return dataclasses.asdict(value)
