"""The task payload of `TrainingTask`: what a validator asks the miner to train, as pydantic models.

These mirror the miner's zod schemas (core/task.ts `TaskRequest`, core/training.ts hyperparameters,
dataset options and quality gates) field for field: names, JSON types, optionality, defaults and
bounds. protocol/schema/task_request.schema.json is generated from the zod side, and
protocol/tests/test_schema.py fails on any difference. Only pydantic is needed here, not bittensor.

Numbers: fields typed `float` dump as floats (`32.0`), `int` fields as ints. Build a request with
these models and send `model_dump(mode="json")` (what `TrainingTask.of()` does), so the JSON the
miner hashes is exactly the dict the SDK hashed.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

__all__ = [
    "TASK_REQUEST",
    "TASK_STATES",
    "TERMINAL_STATES",
    "DatasetSource",
    "HfDataset",
    "ImageDataset",
    "ImageHyperparameters",
    "ImageQuality",
    "ImageTaskRequest",
    "ImageTraining",
    "TaskRequest",
    "TaskState",
    "TextColumns",
    "TextDataset",
    "TextHyperparameters",
    "TextQuality",
    "TextTaskRequest",
    "TextTraining",
    "UrlDataset",
]

TASK_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, lt=1)]

TaskState = Literal[
    "received",
    "dataset_submitted",
    "dataset_validated",
    "queued",
    "training",
    "uploading",
    "submitting",
    "done",
    "failed",
    "rejected",
]
"""Where a task stands (core/task.ts `TaskState`). TaskStatus also answers "not_found"."""

TASK_STATES: tuple[str, ...] = TaskState.__args__
TERMINAL_STATES: frozenset[str] = frozenset({"done", "failed", "rejected"})


class _Model(BaseModel):
    """Unknown keys are errors, as the miner's strict zod objects make them."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# --- Dataset source: where the training data comes from -------------------------------------------


class HfDataset(_Model):
    """A Hugging Face dataset repo at a pinned revision."""

    kind: Literal["hf"] = Field(description="Discriminator.")
    repo: str = Field(
        pattern=r"^[\w.-]+\/[\w.-]+$", description='Dataset repo id, "org/name".'
    )
    revision: str = Field(min_length=1, description="Commit sha, tag or branch.")
    path: str | None = Field(
        default=None, description="Sub-folder or file inside the repo."
    )


class UrlDataset(_Model):
    """An http(s) archive (or single file) the miner downloads and checks against `sha256`."""

    kind: Literal["url"] = Field(description="Discriminator.")
    url: str = Field(
        json_schema_extra={"format": "uri"}, description="http or https URL."
    )
    sha256: str = Field(
        pattern=SHA256_PATTERN, description="Lowercase hex sha256 of the file."
    )
    max_bytes: PositiveInt = Field(
        default=10 * 1024**3, description="Download size limit."
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f'expected an http(s) URL, got "{value}"')
        return value


DatasetSource = Annotated[HfDataset | UrlDataset, Field(discriminator="kind")]


# --- Hyperparameters (core/training.ts) ------------------------------------------------------------


class Speed(_Model):
    """How fast the miner trains, never what it learns; the defaults suit every task."""

    mode: Literal["auto", "as_given"] = Field(
        default="auto",
        description="auto: fastest memory mode that fits the card; as_given: exactly quantization/checkpointing.",
    )
    compile: Literal["auto", "on", "off"] = Field(
        default="auto", description="torch.compile; auto: long CUDA runs only."
    )
    attention: Literal["auto", "sdpa", "flash"] = "auto"
    padding_free: bool = Field(
        default=True, description="Text: no padding, each sample attends to itself."
    )
    merge_micro_batches: bool = Field(
        default=True,
        description="Image: several images per forward when memory allows.",
    )
    fused_optimizer: bool = True
    tf32: bool = True


class _Hyperparameters(_Model):
    """Shared by text and image LoRA. Either `max_steps` or `epochs` bounds training."""

    rank: PositiveInt = Field(default=16, description="LoRA rank.")
    alpha: float = Field(default=32, gt=0, description="LoRA alpha.")
    dropout: Fraction = Field(default=0.05, description="LoRA dropout.")
    target_modules: list[Annotated[str, Field(min_length=1)]] | None = Field(
        default=None,
        min_length=1,
        description="Module names to adapt; null: the usual attention projections.",
    )
    learning_rate: float = Field(default=1e-4, gt=0)
    lr_scheduler: Literal["constant", "linear", "cosine"] = "constant"
    warmup_steps: NonNegativeInt = 0
    max_steps: PositiveInt | None = None
    epochs: Annotated[float, Field(gt=0)] | None = None
    batch_size: PositiveInt = 1
    gradient_accumulation: PositiveInt = 1
    seed: NonNegativeInt = 42
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    gradient_checkpointing: bool = False
    checkpoint_every: NonNegativeInt = Field(
        default=100,
        description="Checkpoint every N optimizer steps (0: on SIGTERM and at the end).",
    )
    weight_decay: float = Field(
        default=0, ge=0, description="AdamW decoupled weight decay (0: none)."
    )
    adam_beta1: Fraction = Field(default=0.9, description="AdamW first-moment decay.")
    adam_beta2: Fraction = Field(
        default=0.999, description="AdamW second-moment decay."
    )
    max_grad_norm: float = Field(
        default=1, ge=0, description="Clip the gradient norm per step (0: no clipping)."
    )
    speed: Speed = Field(default_factory=Speed)


class TextHyperparameters(_Hyperparameters):
    max_seq_length: PositiveInt = 1024
    packing: bool = Field(
        default=False, description="Concatenate samples into full-length blocks."
    )


class ImageHyperparameters(_Hyperparameters):
    resolution: PositiveInt = 1024
    guidance_scale: float = Field(
        default=1, ge=0, description="FLUX guidance for guidance-distilled models."
    )
    quantization: Literal["none", "fp8", "nf4"] = Field(
        default="none", description="Quantized frozen base for 24 GB cards."
    )


# --- Dataset layout and quality gates --------------------------------------------------------------


class TextColumns(_Model):
    """Where columns live in a text dataset; unset ones are detected from common names."""

    text: str | None = None
    prompt: str | None = None
    response: str | None = None
    instruction: str | None = None
    input: str | None = None
    output: str | None = None
    messages: str | None = None


class TextDataset(_Model):
    format: Literal["auto", "jsonl", "csv", "parquet"] = "auto"
    columns: TextColumns = Field(default_factory=TextColumns)
    eval_fraction: Fraction = 0.1


class ImageDataset(_Model):
    format: Literal["auto", "folder", "metadata"] = Field(
        default="auto",
        description='"folder": images with .txt captions; "metadata": metadata.jsonl.',
    )
    caption_column: str = "caption"
    eval_fraction: Fraction = 0.1


class TextQuality(_Model):
    min_improvement: Fraction = Field(
        default=0.01,
        description="Pass if adapter eval loss <= base eval loss * (1 - min_improvement).",
    )


class ImageQuality(_Model):
    prompts: list[Annotated[str, Field(min_length=1)]] = Field(
        default=["a photo"], min_length=1, description="Prompts the gate renders."
    )
    seed: NonNegativeInt = 0
    num_inference_steps: PositiveInt = 20
    min_difference: float = Field(
        default=0.001,
        ge=0,
        le=1,
        description="Pass if the mean absolute pixel difference from the base is at least this.",
    )


# --- The training spec without the miner-filled task_id/type ---------------------------------------


class _Training(_Model):
    schema_version: Literal[1] = 1
    base_model: str = Field(min_length=1, description="HF model repo id (or path).")
    trust_remote_code: bool = False


class TextTraining(_Training):
    hyperparameters: TextHyperparameters = Field(default_factory=TextHyperparameters)
    dataset: TextDataset = Field(default_factory=TextDataset)
    quality: TextQuality = Field(default_factory=TextQuality)


class ImageTraining(_Training):
    hyperparameters: ImageHyperparameters = Field(default_factory=ImageHyperparameters)
    dataset: ImageDataset = Field(default_factory=ImageDataset)
    quality: ImageQuality = Field(default_factory=ImageQuality)


# --- TaskRequest: the `task` of a TrainingTask -----------------------------------------------------


class _Request(_Model):
    id: str = Field(
        min_length=1,
        max_length=128,
        pattern=TASK_ID_PATTERN,
        description="Your id for the task; TaskStatus asks by it.",
    )
    priority: float = Field(
        default=0,
        description="Orders your own tasks (higher first, ties by arrival); validators rank by stake.",
    )
    deadline_ms: PositiveInt | None = Field(
        default=None, description="Unix ms after which the task must not be trained."
    )
    gpus: int = Field(default=1, gt=0, le=64, description="GPUs to train on.")
    dataset: DatasetSource


class TextTaskRequest(_Request):
    """A text (LLM) LoRA task."""

    type: Literal["text"]
    training: TextTraining


class ImageTaskRequest(_Request):
    """An image (FLUX) LoRA task."""

    type: Literal["image"]
    training: ImageTraining


TaskRequest = Annotated[TextTaskRequest | ImageTaskRequest, Field(discriminator="type")]
"""What a validator sends: one union over the kind of LoRA, told apart by `type`."""

TASK_REQUEST: TypeAdapter[TextTaskRequest | ImageTaskRequest] = TypeAdapter(TaskRequest)
"""`TASK_REQUEST.validate_python(d)` parses a dict (e.g. a task JSON file) into the right variant."""
