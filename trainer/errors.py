"""The one exception the trainer raises on purpose: a stable code and a message. `ErrorCode` must equal
`TrainerErrorCode` in core/training.ts: core/training_codes_test.ts and tests/test_contract.py fail otherwise."""

from __future__ import annotations

from typing import Literal

ErrorCode = Literal[
    "dataset_invalid",
    "model_not_found",
    "oom",
    "cancelled",
    "config_invalid",
    "checkpoint_invalid",
    "quality_failed",
    "internal",
]


class TrainerError(Exception):
    """An expected failure: `main` turns it into one `error` event and exit status 1."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message
