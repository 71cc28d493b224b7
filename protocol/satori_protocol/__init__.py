"""Validator-side protocol for Satori miners (Bittensor subnet 119), on bittensor 10.x and 11.x.

`MinerClient` submits a task, follows it, cancels it and reads capacity with whichever SDK is
installed: the task API signed with `bittensor.http_auth` (btauth/1) on 11.x, the synapses through
the Dendrite on 10.x. Both return `Submitted`, `TaskInfo`, `CapacityInfo` and raise `SatoriError`.
Task payload models: `TextTaskRequest`, `ImageTaskRequest` and their parts. On 10.x the synapses
themselves (`TrainingTask`, `TaskStatus`, `Capacity`, `Ping`) are exported too; 11.x has no Synapse.
See protocol/README.md and protocol/example_validator.py.

Usage::

    from satori_protocol import MinerClient, TextTaskRequest
    async with MinerClient(wallet, axon, hotkey=miner_hotkey) as miner:
        sent = await miner.submit_task(TextTaskRequest(...))
        info = await miner.task_status(sent.task_id)
"""

from ._sdk import HAS_HTTP_AUTH, HAS_SYNAPSE, SDK_VERSION
from .client import MinerClient, Transport, default_transport
from .results import TASK_REFUSALS, CapacityInfo, SatoriError, Submitted, TaskInfo
from .task import (
    TASK_REQUEST,
    TASK_STATES,
    TERMINAL_STATES,
    DatasetSource,
    HfDataset,
    ImageDataset,
    ImageHyperparameters,
    ImageQuality,
    ImageTaskRequest,
    ImageTraining,
    TaskRequest,
    TaskState,
    TextColumns,
    TextDataset,
    TextHyperparameters,
    TextQuality,
    TextTaskRequest,
    TextTraining,
    UrlDataset,
)

__all__ = [
    "HAS_HTTP_AUTH",
    "HAS_SYNAPSE",
    "SDK_VERSION",
    "TASK_REFUSALS",
    "TASK_REQUEST",
    "TASK_STATES",
    "TERMINAL_STATES",
    "CapacityInfo",
    "DatasetSource",
    "HfDataset",
    "ImageDataset",
    "ImageHyperparameters",
    "ImageQuality",
    "ImageTaskRequest",
    "ImageTraining",
    "MinerClient",
    "SatoriError",
    "Submitted",
    "TaskInfo",
    "TaskRequest",
    "TaskState",
    "TextColumns",
    "TextDataset",
    "TextHyperparameters",
    "TextQuality",
    "TextTaskRequest",
    "TextTraining",
    "Transport",
    "UrlDataset",
    "default_transport",
]

_SYNAPSE_NAMES = ("SYNAPSES", "Capacity", "Ping", "TaskStatus", "TrainingTask")

if HAS_SYNAPSE:  # bittensor 10.x; on 11.x `bittensor.Synapse` raises
    from .synapses import SYNAPSES, Capacity, Ping, TaskStatus, TrainingTask

    __all__ += ["SYNAPSES", "Capacity", "Ping", "TaskStatus", "TrainingTask"]
else:

    def __getattr__(name: str) -> object:
        if name in _SYNAPSE_NAMES:
            raise AttributeError(
                f"satori_protocol.{name} is a bittensor 10.x synapse and bittensor {SDK_VERSION} "
                "has none: use satori_protocol.MinerClient (the miner's btauth/1 task API)"
            )
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
