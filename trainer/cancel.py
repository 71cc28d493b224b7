"""SIGTERM/SIGINT handling. Outside the training loop a signal cancels at once; inside (`armed`) it only
sets `requested`, and the loop saves a checkpoint at the next step boundary before raising `cancelled`."""

from __future__ import annotations

import logging
import signal
from types import FrameType

from .errors import TrainerError

log = logging.getLogger("trainer")


class Cancel:
    def __init__(self) -> None:
        self.requested = False
        self.armed = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        log.warning("received signal %d", signum)
        first = not self.requested  # under torchrun a rank may get SIGTERM twice (process group + torchrun)
        self.requested = True
        if first and not self.armed:
            raise TrainerError("cancelled", f"Training cancelled by signal {signum}")

    def ending(self) -> None:
        """The run is over (the final event is being written): later signals are only logged."""
        self.requested = True
        self.armed = False

    def raise_cancelled(self, step: int) -> None:
        raise TrainerError("cancelled", f"Training cancelled by signal at step {step}; checkpoint saved")
