"""`python -m trainer remote --fetch URL --put URL --work DIR --name NAME [--resume] [--allow-remote-code]`:
the node-side entrypoint of a Ray job. It fetches `task.json`, `manifest.json` and the dataset files from the
miner into WORK/NAME/ (files already there with the right sha256 are kept), runs `python -m trainer run` as a
child, passes the child's stdout lines (its events) through unchanged, and after a `done` with exit status 0
PUTs each artifact back. Its own failures are one `error` event and status 1; a failed child's status is passed
on. Logs go to stderr. The URLs are capabilities: nothing here writes more of them than the host.

Ray runs an entrypoint with `/bin/sh -c`; the miner starts it as `exec python -m trainer remote …`, so that the
wrapper's parent is Ray's job supervisor itself and its death is seen here (lifeline.py), not hidden by the shell."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from .errors import TrainerError
from .events import claim_stdout, forward_line, report_error
from .fetch import fetch_inputs
from .lifeline import watch_parent
from .transfer import RETURN_WITHIN_S, TransferError, check_base, check_rel_path, host_of, put_file, url_path

log = logging.getLogger("trainer.remote")

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
CHILD_GRACE_S = 50.0  # orphaned: the trainer gets this long to checkpoint before it is killed
WRAPPER_GRACE_S = 10.0  # then the wrapper's own hard exit (lifeline.py)
QUIET = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}  # a `\r` bar on stderr would glue itself
# to the next event line in Ray's job log, where stdout and stderr share one file


def return_artifacts(put: str, out: Path, done: dict[str, Any], within_s: float) -> None:
    for artifact in done.get("artifacts") or []:
        raw = artifact.get("path") if isinstance(artifact, dict) else None
        try:
            path = check_rel_path(raw)
        except ValueError as err:
            raise TrainerError("internal", f"Cannot return artifact {raw!r}: {err}") from None
        try:
            got = put_file(put + "out/" + url_path(path), f"artifact {path}", out / path, within_s)
        except OSError as err:
            raise TrainerError("internal", f"Cannot return artifact {path}: {err.strerror}") from None
        if got != (artifact.get("sha256"), artifact.get("bytes")):
            raise TrainerError("internal", f"Cannot return artifact {path}: it changed after the done event")
        log.info("returned artifact %r (%d bytes)", path, got[1])


def done_event(line: str) -> dict[str, Any] | None:
    if '"done"' not in line:
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and event.get("type") == "done" else None


class Remote:
    """The wrapper's state; its signal handler decides by phase what a stop means."""

    def __init__(self) -> None:
        self.phase = "fetch"  # fetch | launch | train | finish | upload
        self.stopping = False
        self.child: subprocess.Popen[str] | None = None

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.warning("received signal %d in phase %s", signum, self.phase)
        first = not self.stopping
        self.stopping = True
        if not first or self.phase in ("launch", "finish"):  # launch: the child gets it once it exists;
            return  # finish: the child's own `error` may be out already, and the upload will not start
        if self.phase == "train" and self.child is not None:
            self.child.send_signal(signal.SIGTERM)  # it checkpoints and ends with `cancelled`
            return
        raise TrainerError("cancelled", f"Remote training cancelled by signal {signum} during the {self.phase}")

    def orphaned(self) -> None:
        """The parent (Ray's job supervisor) is gone: stop like `ray job stop`, and never leave the child
        behind holding its GPU. Runs in the lifeline thread."""
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + CHILD_GRACE_S
        while self.child is not None and self.child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        if self.child is not None and self.child.poll() is None:
            log.error("the trainer is still running %.0f s after the parent died: killing it", CHILD_GRACE_S)
            self.child.kill()

    def train(self, argv: list[str]) -> tuple[int, dict[str, Any] | None]:
        """Run the trainer, passing its events on; (exit status, its `done` event or None)."""
        self.phase = "launch"
        env = {**QUIET, **os.environ}
        child = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env, encoding="utf-8", errors="replace"
        )
        self.child, self.phase = child, "train"
        if self.stopping:
            child.send_signal(signal.SIGTERM)
        assert child.stdout is not None
        done, passing = None, True
        for line in child.stdout:
            if passing:
                try:
                    forward_line(line)
                except OSError as err:  # keep draining, or the child blocks on a full pipe
                    passing = False
                    log.error("cannot write events any more (%s): dropping the trainer's", err.strerror)
            done = done_event(line) or done
        rc = child.wait()
        self.phase = "finish"
        return (rc if rc >= 0 else 128 - rc), done


def check_args(fetch: str, put: str, name: str) -> None:
    try:
        check_base(fetch, "--fetch")
        check_base(put, "--put")
    except ValueError as err:
        raise TrainerError("config_invalid", str(err)) from None
    if not NAME.match(name):
        raise TrainerError("config_invalid", f"Cannot use --name {name!r}: expected {NAME.pattern}")


def trainer_argv(folder: Path, resume: bool, allow_remote_code: bool, nprocs: int) -> list[str]:
    """`python -m trainer run …` for the task folder; on several GPUs under torchrun, as the miner's own
    GPU actor launches it (actors/gpu/trainer_process.ts `trainerArgs`)."""
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", str(nprocs)]
    argv = [sys.executable, *(launcher if nprocs > 1 else []), "-m", "trainer", "run"]
    argv += ["--task", str(folder / "task.json"), "--dataset", str(folder / "dataset"), "--out", str(folder / "out")]
    return argv + (["--resume"] if resume else []) + (["--allow-remote-code"] if allow_remote_code else [])


def remote_command(
    fetch: str,
    put: str,
    work: Path,
    name: str,
    resume: bool,
    allow_remote_code: bool,
    nprocs: int = 1,
    return_within_s: float = RETURN_WITHIN_S,
) -> int:
    claim_stdout()
    wrapper = Remote()
    folder = work.resolve() / name
    try:
        wrapper.install()
        watch_parent(grace_s=WRAPPER_GRACE_S, on_orphan=wrapper.orphaned)
        check_args(fetch, put, name)
        folder.mkdir(parents=True, exist_ok=True)
        fetch_inputs(fetch, folder)
        rc, done = wrapper.train(trainer_argv(folder, resume, allow_remote_code, nprocs))
        if rc != 0:
            log.warning("the trainer exited with status %d", rc)
            return rc  # it wrote its own `error` event (or crashed without one)
        if done is None:
            raise TrainerError("internal", "The trainer exited with status 0 without a done event")
        wrapper.phase = "upload"
        if wrapper.stopping:
            raise TrainerError("cancelled", "Remote training cancelled by signal before the artifacts were returned")
        return_artifacts(put, folder / "out", done, return_within_s)
    except TransferError as err:
        report_error("internal", str(err))
        return 1
    except TrainerError as err:
        report_error(err.code, err.message)
        return 1
    except OSError as err:  # local files; network errors are TransferErrors
        report_error("internal", f"Cannot run the remote task in {str(folder)!r}: {err}")
        return 1
    except Exception as err:  # a bug: the traceback goes to stderr with the capability URLs cut out
        text = "".join(traceback.format_exception(err))
        for url in (fetch, put):
            text = text.replace(url, f"{host_of(url)}/…")
        sys.stderr.write(text)
        report_error("internal", f"Remote wrapper failed: {type(err).__name__}")
        return 1
    return 0
