"""bittensor 10.x: submit_task, task_status and capacity as synapses through the SDK's Dendrite.

Replies become the same results as the task API's (`Submitted`, `TaskInfo`, `CapacityInfo`) and
refusals the same `SatoriError` codes: a TrainingTask with `accepted=False` raises its `reason`, a
TaskStatus of "not_found" raises `not_found`, and an HTTP error raises a code by its status (the
synapse protocol sends only a status and a message, so a 403 is `forbidden` here where the task API
says which check failed).
"""

from __future__ import annotations

from typing import Any

import bittensor as bt
from bittensor.utils import networking

from .results import CapacityInfo, SatoriError, Submitted, TaskInfo, parse_reply
from .synapses import Capacity, TaskStatus, TrainingTask

__all__ = ["SynapseApi"]

_STATUS_CODES = {
    400: "bad_request",
    401: "bad_auth",
    403: "forbidden",
    404: "unknown_synapse",
    408: "timeout",
    413: "body_too_large",
    429: "rate_limited",
    500: "miner_error",
    503: "unavailable",
}


class SynapseApi:
    """One Dendrite signing with `wallet`'s hotkey, calling one miner's axon."""

    def __init__(
        self,
        wallet: Any,
        host: str,
        port: int,
        hotkey: str,
        timeout: float,
        external_ip: str | None,
    ) -> None:
        # The Dendrite looks up its public IP over the internet when built (the miner does not use
        # it): given one, answer that lookup for this construction only.
        lookup = networking.get_external_ip
        if external_ip is not None:
            networking.get_external_ip = lambda: external_ip
        try:
            self.dendrite = bt.Dendrite(wallet=wallet)
        finally:
            networking.get_external_ip = lookup
        self.axon = bt.AxonInfo(
            version=bt.settings.version_as_int,
            ip=host,
            port=port,
            ip_type=6 if ":" in host else 4,
            hotkey=hotkey,
            coldkey=hotkey,
        )
        self.timeout = timeout

    async def submit(self, task: dict[str, Any]) -> Submitted:
        reply = await self._call(TrainingTask(task=task))
        if not reply.accepted:
            details = {"task_id": reply.task_id, "queue_position": reply.queue_position}
            raise SatoriError(
                reply.reason or "bad_response",
                reply.message or "the miner did not accept the task",
                details={k: v for k, v in details.items() if v is not None},
            )
        return parse_reply(
            Submitted,
            {"task_id": reply.task_id, "queue_position": reply.queue_position},
        )

    async def status(self, task_id: str) -> TaskInfo:
        reply = await self._call(TaskStatus(task_id=task_id))
        if reply.state == "not_found":
            raise SatoriError(
                "not_found", reply.reason or f'Task "{task_id}" is not known'
            )
        return parse_reply(
            TaskInfo,
            {
                "task_id": task_id,
                "state": reply.state,
                "progress": reply.progress,
                "result_repo": reply.result_repo,
                "reason": reply.reason,
            },
        )

    async def capacity(self) -> CapacityInfo:
        reply = await self._call(Capacity())
        return parse_reply(
            CapacityInfo, reply.model_dump(include=set(CapacityInfo.model_fields))
        )

    async def close(self) -> None:
        await self.dendrite.aclose_session()

    async def _call(self, synapse: Any) -> Any:
        reply = await self.dendrite.call(
            self.axon, synapse, timeout=self.timeout, deserialize=False
        )
        if reply.is_success:
            return reply
        status = _int(reply.dendrite.status_code)
        message = f"{type(synapse).__name__}: {reply.dendrite.status_message}"
        # No axon status: nothing came back, the dendrite itself failed (connect, timeout).
        if reply.axon.status_code is None:
            code = "timeout" if status == 408 else "unreachable"
            raise SatoriError(code, message)
        raise SatoriError(
            _STATUS_CODES.get(status or 0, "http_error"), message, status=status
        )


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
