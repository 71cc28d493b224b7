"""Validator-side protocol for Satori miners (Bittensor subnet 119), for bittensor 10.x.

Synapses (what a validator sends to a miner's axon): `TrainingTask`, `TaskStatus`, `Capacity`, and
`Ping` (the SDK's base `Synapse`). Task payload models: `TextTaskRequest`, `ImageTaskRequest` and
their parts. See protocol/README.md for the whole flow and protocol/example_validator.py.

Usage::

    from satori_protocol import TaskStatus, TextTaskRequest, TrainingTask
    reply = await dendrite.call(axon, TrainingTask.of(TextTaskRequest(...)), timeout=12)
    if reply.is_success and reply.accepted:
        status = await dendrite.call(axon, TaskStatus(task_id=reply.task_id))
"""

from .synapses import SYNAPSES, Capacity, Ping, TaskStatus, TrainingTask
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
    "SYNAPSES",
    "TASK_REQUEST",
    "TASK_STATES",
    "TERMINAL_STATES",
    "Capacity",
    "DatasetSource",
    "HfDataset",
    "ImageDataset",
    "ImageHyperparameters",
    "ImageQuality",
    "ImageTaskRequest",
    "ImageTraining",
    "Ping",
    "TaskRequest",
    "TaskState",
    "TaskStatus",
    "TextColumns",
    "TextDataset",
    "TextHyperparameters",
    "TextQuality",
    "TextTaskRequest",
    "TextTraining",
    "TrainingTask",
    "UrlDataset",
]
