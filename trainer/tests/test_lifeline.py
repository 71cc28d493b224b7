"""watch_parent() with real processes: a parent killed with -9 makes its child SIGTERM itself, or exit hard when it
ignores SIGTERM; and `python -m trainer run` checkpoints and ends with `cancelled` when its parent dies.

The test process becomes a child subreaper, so an orphan is re-parented to it (as to a raylet's subreaper or to
PID 1 in production) and its exit status can be read with waitpid."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .conftest import ROOT, check_event, env, text_task, write_task

PR_SET_CHILD_SUBREAPER = 36

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs prctl(PR_SET_CHILD_SUBREAPER)")


@pytest.fixture
def subreaper() -> Iterator[None]:
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    yield
    libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.05)


def reap(pid: int, timeout_s: float) -> tuple[int, float]:
    """(exit status, seconds waited) of an orphan re-parented to this (subreaper) process; killed if too slow."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), time.monotonic() - start
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"process {pid} still ran {timeout_s} s after its parent was killed")


def orphan(child_argv: list[str], tmp: Path, stdout: Path | None = None) -> tuple[subprocess.Popen[bytes], int]:
    """Start a parent process that starts `child_argv` and sleeps; returns (parent, child pid)."""
    pid_file = tmp / "child.pid"
    parent_code = textwrap.dedent(f"""
        import os, subprocess, sys, time
        out = open({str(stdout)!r}, "w") if {stdout is not None} else None
        child = subprocess.Popen({child_argv!r}, stdout=out)
        open({str(pid_file)!r} + ".tmp", "w").write(str(child.pid))
        os.replace({str(pid_file)!r} + ".tmp", {str(pid_file)!r})
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", parent_code], cwd=ROOT, env=env())
    wait_for(pid_file.exists, 30, "the child's pid")
    return parent, int(pid_file.read_text())


def kill_parent(parent: subprocess.Popen[bytes]) -> None:
    parent.send_signal(signal.SIGKILL)
    parent.wait()


CHILD = """
import os, signal, sys, time
from pathlib import Path
from trainer.lifeline import watch_parent
marker = Path(sys.argv[1])
def on_term(signum, frame):
    marker.write_text("sigterm")
    sys.exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN if sys.argv[2] == "ignore" else on_term)
watch_parent(interval_s=0.2, grace_s=2)
Path(str(marker) + ".ready").write_text("")
time.sleep(60)
"""


def test_watch_parent_sigterms_its_process_when_the_parent_is_killed(tmp_path: Path, subreaper: None) -> None:
    marker = tmp_path / "marker"
    parent, child = orphan([sys.executable, "-c", CHILD, str(marker), "handle"], tmp_path)
    wait_for(Path(f"{marker}.ready").exists, 30, "watch_parent to start")
    kill_parent(parent)
    status, waited = reap(child, timeout_s=10)
    assert status == 0 and marker.read_text() == "sigterm"
    assert waited < 3


def test_watch_parent_exits_hard_when_sigterm_is_ignored(tmp_path: Path, subreaper: None) -> None:
    marker = tmp_path / "marker"
    parent, child = orphan([sys.executable, "-c", CHILD, str(marker), "ignore"], tmp_path)
    wait_for(Path(f"{marker}.ready").exists, 30, "watch_parent to start")
    kill_parent(parent)
    status, waited = reap(child, timeout_s=10)
    assert status == 1 and not marker.exists()
    assert 2 <= waited < 4


def test_run_checkpoints_and_cancels_when_its_parent_is_killed(
    tmp_path: Path, subreaper: None, tiny_llama: Path, toy_text: Path
) -> None:
    task = write_task(tmp_path, text_task(tiny_llama, max_steps=10000, checkpoint_every=0))
    events = tmp_path / "events.jsonl"
    argv = [sys.executable, "-m", "trainer", "run", "--task", str(task), "--dataset", str(toy_text)]
    parent, child = orphan([*argv, "--out", str(tmp_path / "out")], tmp_path, stdout=events)
    wait_for(lambda: '"progress"' in events.read_text(), 120, "the first progress event")
    kill_parent(parent)
    status, waited = reap(child, timeout_s=30)
    seen = [check_event(line) for line in events.read_text().splitlines()]
    assert status == 1 and waited < 10
    assert [e["type"] for e in seen[-2:]] == ["checkpoint", "error"] and seen[-1]["code"] == "cancelled"
    assert json.loads((tmp_path / "out" / seen[-2]["path"] / "meta.json").read_text())["step"] == seen[-2]["step"]
