"""Satori (Bittensor subnet 119) synapses, as `bittensor.Synapse` subclasses for validators.

The miner's axon (TypeScript, actors/axon/synapses.ts) serves these routes; the field names, JSON types
and `required_hash_fields` here must match that file. Every field has a default, so a class can be built
from headers alone (the SDK axon's `from_headers`) and no `bt_header_input_obj_*` headers are needed.

Float vs int: the body hash is computed over `str()` of the hashed fields. `task` is an untyped `dict`
on purpose: pydantic keeps its values as JSON gave them, so `1` stays `1` and `1.0` stays `1.0` on
both sides. Do not give it a typed model with float fields without changing the miner at the same time.

Usage (bittensor 10.x)::

    from satori_protocol import TrainingTask, TaskStatus
    reply = await dendrite.call(axon, TrainingTask(task={...}), timeout=12)
    if reply.is_success and reply.accepted:
        status = await dendrite.call(axon, TaskStatus(task_id=reply.task_id))
"""

from __future__ import annotations

from typing import Any, ClassVar

import bittensor as bt
from pydantic import Field

__all__ = ["SYNAPSES", "Capacity", "Ping", "TaskStatus", "TrainingTask"]

# The base class itself: POST /Synapse is the ping every axon serves.
Ping = bt.Synapse


class TrainingTask(bt.Synapse):
    """Offer a LoRA training task to the miner.

    Sent: `task`, a TaskRequest object (see core/task.ts: `id`, `type` "text" | "image", `dataset`,
    `training`, optional `priority`, `deadline_ms`, `gpus`). It is bound to the signature.
    Returned: `accepted`; when true, `task_id` and `queue_position` (0 = next to run); when false,
    `reason` (a code such as "queue_full", "invalid_task", "duplicate") and `message` (human text).
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


class TaskStatus(bt.Synapse):
    """Ask where a task the same validator sent stands.

    Sent: `task_id` (bound to the signature). Returned: `state` (received, queued, training, testing,
    uploading, submitting, done, failed, rejected, or "not_found"), `progress` (0.0 to 1.0, or null),
    `result_repo` (the Hugging Face repo of the LoRA once uploaded) and `reason` (why it failed).
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
