"""Every stdout event, written by the single `emit()`: one JSON object per line.

EVENT_FIELDS mirrors `TrainerEvent` in core/training.ts (tests check it against
trainer/schema/events.schema.json); `emit` refuses a field set that differs, so a drift fails loudly.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from typing import IO, Any

EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "started": (
        "task_id",
        "kind",
        "device",
        "precision",
        "total_steps",
        "start_step",
        "train_samples",
        "eval_samples",
        "trainable_params",
        "mode",
        "mode_reason",
    ),
    "progress": ("step", "total", "loss", "lr", "samples_per_s", "tokens_per_s", "eta_s", "gpu_mem_mb"),
    "checkpoint": ("step", "path"),
    "eval": ("step", "eval_loss", "perplexity"),
    "quality": ("passed", "metric", "base", "adapter", "threshold", "detail", "samples"),
    "done": ("artifacts", "metrics", "quality"),
    "error": ("code", "message"),
}

FINAL = ("done", "error")

_stream: IO[str] | None = None
_muted = False  # ranks > 0 under torchrun: only rank 0 writes events
_final_sent = False  # at most one `done`/`error` per process, even with the peer-failure watchdog thread
_lock = threading.Lock()


def claim_stdout(muted: bool = False) -> None:
    """Keep the real stdout for events and point fd 1 (and `print`) at stderr, so no library can
    write a stray line into the event stream. `muted`: this process writes no events at all."""
    global _stream, _muted
    _muted = muted
    if _stream is not None:
        return
    sys.stdout.flush()
    _stream = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr


def json_number(value: float | None) -> float | None:
    """JSON has no NaN or infinity: those become null where the schema allows it."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def emit(type_: str, **fields: Any) -> dict[str, Any]:
    """Write one event line on the event stream (stdout) and return it. A second `done`/`error` is dropped."""
    return _write(type_, fields)[0]


def report_error(code: str, message: str) -> bool:
    """Emit the final `error` event unless a final event was already written; True if this one was."""
    return _write("error", {"code": code, "message": message})[1]


def _write(type_: str, fields: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    global _final_sent
    expected = EVENT_FIELDS.get(type_)
    if expected is None:
        raise ValueError(f"Cannot emit event {type_!r}: unknown type")
    if set(fields) != set(expected):
        raise ValueError(f"Cannot emit event {type_!r}: fields {sorted(fields)} differ from {sorted(expected)}")
    event = {"type": type_, "time": time.time(), **fields}
    line = json.dumps(event, allow_nan=False, separators=(",", ":"))
    with _lock:
        if type_ in FINAL:
            if _final_sent:
                return event, False
            _final_sent = True
        if not _muted:
            stream = _stream if _stream is not None else sys.stdout
            stream.write(line + "\n")
            stream.flush()
    return event, True


def forward_line(line: str) -> None:
    """One line another trainer process wrote on its event stream, passed on unchanged (`python -m trainer
    remote`). It bypasses the one-final-event rule: the wrapper may add its own `error` after a `done`."""
    with _lock:
        stream = _stream if _stream is not None else sys.stdout
        stream.write(line if line.endswith("\n") else line + "\n")
        stream.flush()


def write_line(value: dict[str, Any]) -> None:
    """One non-event JSON line on stdout: the result of `python -m trainer tiny`."""
    stream = _stream if _stream is not None else sys.stdout
    stream.write(json.dumps(value) + "\n")
    stream.flush()
