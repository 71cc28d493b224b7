"""`MinerClient`: submit a task, follow it, cancel it and read capacity, on either bittensor generation.

The transport follows the installed SDK, which this package never changes:
- bittensor 11.x (`bittensor.http_auth` exists): the miner's task API (`POST /v1/tasks`,
  `GET /v1/tasks/{id}`, `POST /v1/tasks/{id}/cancel`, `GET /v1/capacity`), each request signed by
  `bittensor.http_auth.sign` with your hotkey and bound to the miner's hotkey;
- bittensor 10.x (`bittensor.Synapse` exists): the TrainingTask, TaskStatus and Capacity synapses through
  the SDK's Dendrite; `cancel` has no synapse, so it calls the task API, signing btauth/1 with the same
  hotkey keypair.

Both return the same models (`Submitted`, `TaskInfo`, `CapacityInfo`) and raise one `SatoriError`
carrying the task API's error code. `transport="btauth"` forces the task API on 10.x too.

    async with MinerClient(wallet, "1.2.3.4:8091", hotkey="5F...") as miner:
        sent = await miner.submit_task(TextTaskRequest(...))
        info = await miner.task_status(sent.task_id)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from . import _sdk
from .btauth import TaskApi, keypair_signer, sdk_signer
from .results import CapacityInfo, SatoriError, Submitted, TaskInfo, parse_reply
from .task import TASK_REQUEST, ImageTaskRequest, TextTaskRequest

__all__ = ["MinerClient", "Transport", "default_transport"]

Transport = Literal["btauth", "synapse"]


def default_transport() -> Transport:
    """`synapse` where the SDK has the 10.x Dendrite, else `btauth` (bittensor 11.x)."""
    return "synapse" if _sdk.HAS_SYNAPSE else "btauth"


def endpoint(axon: Any, hotkey: str | None) -> tuple[str, int, str]:
    """(host, port, miner hotkey) from a 10.x `AxonInfo` or an 11.x metagraph's `"ip:port"`."""
    if isinstance(axon, str):
        host, sep, port = axon.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ValueError(f'Cannot parse the axon "{axon}": expected "ip:port"')
        if hotkey is None:
            raise ValueError(
                f'Cannot call the axon "{axon}" without the miner\'s hotkey'
            )
        return host.strip("[]"), int(port), hotkey
    return str(axon.ip), int(axon.port), hotkey or str(axon.hotkey)


def task_json(
    request: TextTaskRequest | ImageTaskRequest | Mapping[str, Any],
) -> dict[str, Any]:
    """The TaskRequest as the JSON both transports send; a dict is checked against the models first."""
    if isinstance(request, BaseModel):
        return request.model_dump(mode="json")
    try:
        return TASK_REQUEST.validate_python(dict(request)).model_dump(mode="json")
    except ValidationError as e:
        raise SatoriError(
            "invalid_task", f"the task does not match the schema: {e}"
        ) from None


class MinerClient:
    """Calls one miner for one validator wallet (a 10.x `bittensor_wallet.Wallet` or an 11.x `bt.Wallet`).

    `axon`: a 10.x `AxonInfo` (e.g. `metagraph.axons[uid]`) or `"ip:port"` (an 11.x metagraph
    neuron's `axon`) with `hotkey`, the miner's ss58. `timeout`: seconds per call. `external_ip`
    (10.x only): your public IP, which spares the Dendrite its lookup over the internet.
    """

    def __init__(
        self,
        wallet: Any,
        axon: Any,
        *,
        hotkey: str | None = None,
        transport: Transport | None = None,
        timeout: float = 12.0,
        external_ip: str | None = None,
    ) -> None:
        self.host, self.port, self.hotkey = endpoint(axon, hotkey)
        self.transport: Transport = transport or default_transport()
        self._wallet = wallet
        self._timeout = timeout
        self._external_ip = external_ip
        self._api: TaskApi | None = None
        self._synapses: Any = None
        if self.transport == "synapse" and not _sdk.HAS_SYNAPSE:
            raise SatoriError(
                "unsupported",
                f"bittensor {_sdk.SDK_VERSION} has no Synapse/Dendrite: use the btauth transport",
            )

    async def submit_task(
        self, request: TextTaskRequest | ImageTaskRequest | Mapping[str, Any]
    ) -> Submitted:
        """Offers the task; `Submitted` when queued, else a SatoriError (`queue_full`, `duplicate`, ...)."""
        task = task_json(request)
        if self.transport == "synapse":
            return await self._synapse().submit(task)
        return parse_reply(
            Submitted, await self._task_api().request("POST", "/v1/tasks", task)
        )

    async def task_status(self, task_id: str) -> TaskInfo:
        """Where your task stands; `not_found` for an unknown id or another validator's task."""
        if self.transport == "synapse":
            return await self._synapse().status(task_id)
        return parse_reply(
            TaskInfo, await self._task_api().request("GET", _task_path(task_id))
        )

    async def cancel(self, task_id: str) -> TaskInfo:
        """Cancels your task; its state after the cancel, or `not_found` / `not_cancellable`."""
        reply = await self._task_api().request("POST", _task_path(task_id) + "/cancel")
        return parse_reply(TaskInfo, reply)

    async def capacity(self) -> CapacityInfo:
        """GPUs and queue room the miner has now."""
        if self.transport == "synapse":
            return await self._synapse().capacity()
        return parse_reply(
            CapacityInfo, await self._task_api().request("GET", "/v1/capacity")
        )

    async def close(self) -> None:
        if self._synapses is not None:
            await self._synapses.close()
            self._synapses = None

    async def __aenter__(self) -> MinerClient:  # noqa: PYI034 - typing.Self is 3.11+
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _task_api(self) -> TaskApi:
        if self._api is None:
            sign = (
                sdk_signer(self._wallet, self.hotkey)
                if _sdk.HAS_HTTP_AUTH
                else keypair_signer(self._wallet.hotkey, self.hotkey)
            )
            self._api = TaskApi(self.host, self.port, sign, self._timeout)
        return self._api

    def _synapse(self) -> Any:
        if self._synapses is None:
            # 10.x only: it imports the synapses, which subclass bittensor.Synapse
            from .dendrite import SynapseApi

            self._synapses = SynapseApi(
                self._wallet,
                self.host,
                self.port,
                self.hotkey,
                self._timeout,
                self._external_ip,
            )
        return self._synapses


def _task_path(task_id: str) -> str:
    # Task ids are [A-Za-z0-9._-]; quoting keeps any other id inside its path segment.
    return "/v1/tasks/" + quote(task_id, safe="")
