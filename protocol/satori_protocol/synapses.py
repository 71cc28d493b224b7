"""Satori (Bittensor subnet 119) synapses, as `bittensor.Synapse` subclasses for validators on 10.x.

The miner's axon (TypeScript, actors/axon/synapses.ts) serves these routes. Field names, JSON types,
defaults and `required_hash_fields` here must match that file: protocol/schema/synapses.schema.json
is generated from it and protocol/tests/test_schema.py fails on any difference. Every field has a
default, so a class can be built from headers alone (the SDK axon's `from_headers`).

Body hash: the SDK hashes `str(model_dump()[f])` for each hashed field and the miner recomputes it
from the JSON it receives. `TrainingTask.task` is therefore a plain JSON dict, dumped from the typed
models in `satori_protocol.task` by `TrainingTask.of()`: its floats are floats (`32.0`) and its ints
ints on both sides, so the two hashes agree.
"""

from __future__ import annotations

from typing import Any, ClassVar

import bittensor as bt
from pydantic import BaseModel, Field, field_validator

from ._sdk import HAS_SYNAPSE, SDK_VERSION
from .task import TASK_REQUEST, ImageTaskRequest, TextTaskRequest

if not HAS_SYNAPSE:
    raise ImportError(
        f"satori_protocol.synapses needs bittensor 10.x: bittensor {SDK_VERSION} has no Synapse. "
        "Use satori_protocol.MinerClient, which calls the miner's btauth/1 task API"
    )

__all__ = ["SYNAPSES", "Capacity", "Ping", "TaskStatus", "TrainingTask"]

Ping = bt.Synapse
"""The base class itself: POST /Synapse is the ping every axon serves (no blacklist)."""


class TrainingTask(bt.Synapse):
    """Offer a LoRA training task to the miner.

    Sent: `task`, a TaskRequest as JSON (build it with `TrainingTask.of(TextTaskRequest(...))`):
    `id`, `type` ("text" | "image"), `dataset` (an "hf" repo or a "url" archive), `training`
    (base model, hyperparameters, dataset layout, quality gate), optional `priority`, `deadline_ms`,
    `gpus`. It is bound to the signature (`required_hash_fields`).

    Returned: `accepted`; when true, `task_id` (poll it with TaskStatus) and `queue_position`
    (0 = next to run); when false, `reason` (a code: "invalid_task", "duplicate", "id_taken",
    "model_not_allowed", "over_limit", "too_long", "validator_quota", "queue_full", ...; see the
    README) and `message` (human text naming the field at fault). A `duplicate` also carries
    `task_id` and `queue_position` of the task sent before. `task` comes back as it was sent.
    """

    required_hash_fields: ClassVar[tuple[str, ...]] = ("task",)

    task: dict[str, Any] | None = Field(
        default=None, description="The TaskRequest, as JSON."
    )
    accepted: bool | None = Field(
        default=None, description="Reply: whether the miner queued the task."
    )
    task_id: str | None = Field(
        default=None, description="Reply: the id to poll with TaskStatus."
    )
    queue_position: int | None = Field(
        default=None, description="Reply: tasks ahead of this one."
    )
    reason: str | None = Field(
        default=None, description="Reply: refusal code when not accepted."
    )
    message: str | None = Field(
        default=None, description="Reply: refusal explanation when not accepted."
    )

    @field_validator("task", mode="before")
    @classmethod
    def _dump_model(cls, value: object) -> object:
        """A typed request becomes its JSON dict (floats stay floats), so the hash is stable."""
        return value.model_dump(mode="json") if isinstance(value, BaseModel) else value

    @classmethod
    def of(
        cls, request: TextTaskRequest | ImageTaskRequest, **kwargs: Any
    ) -> TrainingTask:
        """The synapse carrying `request` (kwargs: other Synapse fields, e.g. `timeout`)."""
        return cls(task=request.model_dump(mode="json"), **kwargs)

    def request(self) -> TextTaskRequest | ImageTaskRequest:
        """`task` parsed into its typed variant (raises pydantic.ValidationError if invalid)."""
        return TASK_REQUEST.validate_python(self.task)


class TaskStatus(bt.Synapse):
    """Ask where a task the same validator sent stands.

    Sent: `task_id` (bound to the signature). Returned: `state`, one of `satori_protocol.TASK_STATES`
    (received, dataset_submitted, dataset_validated, queued, training, testing, uploading, submitting,
    done, failed, rejected) or "not_found" (unknown here, or sent by another validator); `progress`
    (0.0 to 1.0 of the training steps, 1.0 when done, or None); `result_repo` (the Hugging Face repo
    of the LoRA once uploaded) and `reason` (why it failed or was rejected).
    """

    required_hash_fields: ClassVar[tuple[str, ...]] = ("task_id",)

    task_id: str = Field(default="", description="The task id TrainingTask returned.")
    state: str | None = Field(default=None, description="Reply: the task's state.")
    progress: float | None = Field(
        default=None, description="Reply: fraction of training steps done."
    )
    result_repo: str | None = Field(
        default=None, description="Reply: Hugging Face repo id of the result."
    )
    reason: str | None = Field(
        default=None, description="Reply: why the task failed or was rejected."
    )


class Capacity(bt.Synapse):
    """Ask what the miner can take now (nothing is sent besides the request itself).

    Returned: `total_gpus`, `free_gpus`, `gpu_vram_mb` (total VRAM per GPU, MiB), `queue_length`
    (tasks waiting) and `queue_max` (the queue's bound).
    """

    total_gpus: int | None = Field(
        default=None, description="Reply: GPUs the miner trains on."
    )
    free_gpus: int | None = Field(default=None, description="Reply: GPUs idle now.")
    gpu_vram_mb: list[int] | None = Field(
        default=None, description="Reply: total VRAM per GPU in MiB."
    )
    queue_length: int | None = Field(default=None, description="Reply: tasks queued.")
    queue_max: int | None = Field(default=None, description="Reply: queue bound.")


SYNAPSES: dict[str, type[bt.Synapse]] = {
    "Synapse": Ping,
    "TrainingTask": TrainingTask,
    "TaskStatus": TaskStatus,
    "Capacity": Capacity,
}
"""Every route the miner's axon serves, by synapse name."""
