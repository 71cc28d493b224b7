"""Exit when the parent process dies, so an orphaned trainer never keeps its GPU.

A miner killed with -9, or a Ray node whose raylet was killed with -9, leaves the trainer running,
re-parented to PID 1 (or to the nearest subreaper). `watch_parent` starts a daemon thread that polls
`os.getppid()` and, once it differs from the parent seen at start, sends SIGTERM to this process: the
graceful path in cancel.py saves a checkpoint and ends with `cancelled`. If the process is still alive
`grace_s` later (a hung save, SIGTERM ignored), it exits hard with `os._exit(1)`.

Why polling rather than `prctl(PR_SET_PDEATHSIG)`: the death signal fires when the *thread* that forked
this process exits, not when the parent process dies. Ray's job supervisor is an asyncio actor that starts
the entrypoint from its event loop's thread, and that thread's end is not the parent's death. A poll of
getppid every second costs nothing and sees exactly what matters: this process has another parent now.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable

log = logging.getLogger("trainer")


def watch_parent(
    interval_s: float = 1.0, grace_s: float = 60.0, on_orphan: Callable[[], None] | None = None
) -> threading.Thread:
    """Start the watcher (a daemon thread) and return it. `on_orphan` runs in that thread when the parent
    is gone, instead of the default SIGTERM to this process; the hard exit after `grace_s` follows either way."""
    parent = os.getppid()
    thread = threading.Thread(
        target=_watch, args=(parent, interval_s, grace_s, on_orphan), name="lifeline", daemon=True
    )
    thread.start()
    return thread


def _terminate_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def _watch(parent: int, interval_s: float, grace_s: float, on_orphan: Callable[[], None] | None) -> None:
    while os.getppid() == parent:
        time.sleep(interval_s)
    log.warning(
        "parent process %d is gone (now re-parented to %d): stopping, hard exit in %.0f s",
        parent,
        os.getppid(),
        grace_s,
    )
    try:
        (on_orphan or _terminate_self)()
    except Exception:
        log.exception("stopping after the parent died")
    time.sleep(grace_s)
    log.error("still running %.0f s after the parent died: exiting now", grace_s)
    os._exit(1)
