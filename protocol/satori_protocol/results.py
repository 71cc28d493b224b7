"""What `MinerClient` returns and raises, the same on both SDK paths (btauth/1 API and 10.x synapses).

The reply models mirror the miner's replies field for field: `Submitted` is the task API's 202 body
(the TrainingTask synapse's `task_id`/`queue_position`), `TaskInfo` the TaskStatus reply plus its
`task_id`, `CapacityInfo` the Capacity reply. protocol/tests/test_schema.py checks them against the
synapse reply fields of protocol/schema/synapses.schema.json, so they cannot drift from the miner.

Every refusal and failure is one `SatoriError` carrying the task API's error code (`queue_full`,
`not_found`, `bad_signature`, ...), so a validator handles both SDK generations with one `except`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .task import TERMINAL_STATES, TaskState

__all__ = [
    "TASK_REFUSALS",
    "CapacityInfo",
    "SatoriError",
    "Submitted",
    "TaskInfo",
    "parse_reply",
]


class _Reply(BaseModel):
    """A miner's reply: validated on arrival; keys a newer miner adds are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Submitted(_Reply):
    """The miner queued the task: poll it by `task_id`; `queue_position` 0 runs next."""

    task_id: str = Field(description="The id to poll with task_status().")
    queue_position: int = Field(ge=0, description="Tasks ahead of this one.")


class TaskInfo(_Reply):
    """Where one of your tasks stands (task_status(), and cancel() after cancelling)."""

    task_id: str = Field(description="The task's id.")
    state: TaskState = Field(description="The task's state.")
    progress: float | None = Field(
        default=None, ge=0, le=1, description="Fraction of training steps done."
    )
    result_repo: str | None = Field(
        default=None, description="Hugging Face repo id of the result."
    )
    reason: str | None = Field(
        default=None, description="Why the task failed or was rejected."
    )

    @property
    def terminal(self) -> bool:
        """Whether the task will not move again (done, failed or rejected)."""
        return self.state in TERMINAL_STATES


class CapacityInfo(_Reply):
    """What the miner can take now."""

    total_gpus: int = Field(ge=0, description="GPUs the miner trains on.")
    free_gpus: int = Field(ge=0, description="GPUs idle now.")
    gpu_vram_mb: list[int] = Field(description="Total VRAM per GPU in MiB.")
    queue_length: int = Field(ge=0, description="Tasks queued.")
    queue_max: int = Field(ge=0, description="Queue bound.")


TASK_REFUSALS: frozenset[str] = frozenset(
    {
        "invalid_task",
        "duplicate",
        "id_taken",
        "model_not_allowed",
        "over_limit",
        "too_long",
        "validator_quota",
        "queue_full",
        "deadline",
        "unplaceable",
    }
)
"""Codes by which the miner declines the task itself (the synapse's `accepted=False` reasons)."""


class SatoriError(Exception):
    """A refusal or failure of one call, by the task API's error code.

    `code`: the miner's code (`invalid_task`, `queue_full`, `not_found`, `not_cancellable`,
    `bad_signature`, `stake_too_low`, `unavailable`, ...) or one of the client's own: `unreachable`
    (no connection), `timeout`, `bad_response` (a reply that is not the contract), `unsupported`
    (the installed SDK cannot make this call). `status` is the HTTP status when there was one; `retry_after` the seconds
    the miner asked to wait (429/503); `details` the reply's other fields (a `duplicate` carries
    `task_id`, `state` and `queue_position` of the task sent before).
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.details: dict[str, Any] = dict(details or {})

    @property
    def refusal(self) -> bool:
        """Whether the miner declined the task itself, rather than the call failing (auth, transport)."""
        return self.code in TASK_REFUSALS


R = TypeVar("R", bound=_Reply)


def parse_reply(model: type[R], fields: dict[str, Any]) -> R:
    """`fields` as `model`, or a `bad_response` SatoriError naming what is wrong with them."""
    try:
        return model.model_validate(fields)
    except ValidationError as e:
        raise SatoriError(
            "bad_response", f"the miner's reply is not a {model.__name__}: {e}"
        ) from None
