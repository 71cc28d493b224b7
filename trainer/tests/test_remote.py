"""`python -m trainer remote` against a fake miner on 127.0.0.1: fetch, train, return the artifacts; a dataset
that does not match its manifest; unsafe manifest paths; files already present; SIGTERM mid-training; an upload
that keeps failing; and a wrapper whose parent dies."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from .conftest import ROOT, check_event, env, text_task
from .test_lifeline import kill_parent, orphan, reap, subreaper, wait_for

__all__ = ["subreaper"]  # the fixture, imported for the orphan test

TOKEN = "tok-5ecret-capability"


@dataclass
class Miner:
    """What the fake miner serves under /v1/<token>/ and what it received."""

    docs: dict[str, bytes] = field(default_factory=dict)  # path under the prefix -> body
    gets: list[str] = field(default_factory=list)
    puts: dict[str, bytes] = field(default_factory=dict)
    fail_once: set[str] = field(default_factory=set)  # paths answered 503 the first time
    put_status: int = 201
    base: str = ""

    def serve_dataset(self, task: dict[str, Any], files: dict[str, bytes], **manifest: Any) -> None:
        self.docs["task.json"] = json.dumps(task).encode()
        entries = [{"path": p, "sha256": hashlib.sha256(b).hexdigest(), "bytes": len(b)} for p, b in files.items()]
        doc = {
            "schema_version": 1,
            "task_id": task["task_id"],
            "files": entries,
            "total_bytes": sum(len(b) for b in files.values()),
            **manifest,
        }
        self.docs["manifest.json"] = json.dumps(doc).encode()
        self.docs.update({f"dataset/{p}": b for p, b in files.items()})


@pytest.fixture
def miner() -> Iterator[Miner]:
    state = Miner()
    prefix = f"/v1/{TOKEN}/"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def _path(self) -> str | None:
            return unquote(self.path[len(prefix) :]) if self.path.startswith(prefix) else None

        def _answer(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _flaky(self, path: str) -> bool:
            if path in state.fail_once:
                state.fail_once.discard(path)
                self._answer(503)
                return True
            return False

        def do_GET(self) -> None:
            path = self._path()
            if path is None or path not in state.docs:
                return self._answer(404)
            state.gets.append(path)
            if not self._flaky(path):
                self._answer(200, state.docs[path])

        def do_PUT(self) -> None:
            path = self._path()
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if path is None or not path.startswith("out/"):
                return self._answer(404)
            if not self._flaky(path) and state.put_status < 300:
                state.puts[path[len("out/") :]] = body
            self._answer(state.put_status)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{server.server_address[1]}{prefix}"
    yield state
    server.shutdown()
    server.server_close()


def remote_argv(miner: Miner, work: Path, resume: bool = False) -> list[str]:
    args = ["--fetch", miner.base, "--put", miner.base, "--work", str(work), "--name", "task-1.a"]
    args += ["--return-within-s", "3"]  # a failing return gives up in seconds, not the default 10 minutes
    return [sys.executable, "-m", "trainer", "remote", *args, *(["--resume"] if resume else [])]


@dataclass
class Result:
    rc: int
    events: list[dict[str, Any]]
    stderr: str

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]


def run_remote(miner: Miner, work: Path, resume: bool = False) -> Result:
    loud = {**env(), "TRAINER_LOG_LEVEL": "INFO"}  # every log line too is checked for the token
    proc = subprocess.run(remote_argv(miner, work, resume), cwd=ROOT, env=loud, capture_output=True, text=True)
    assert TOKEN not in proc.stdout and TOKEN not in proc.stderr
    return Result(proc.returncode, [check_event(line) for line in proc.stdout.splitlines()], proc.stderr)


def toy_files(toy_text: Path) -> dict[str, bytes]:
    """The toy dataset under a path that needs percent-encoding."""
    return {"part one/train #1.jsonl": (toy_text / "train.jsonl").read_bytes()}


def test_remote_fetches_trains_and_returns_the_artifacts(
    tmp_path: Path, miner: Miner, tiny_llama: Path, toy_text: Path
) -> None:
    miner.serve_dataset(text_task(tiny_llama, max_steps=2), toy_files(toy_text))
    miner.fail_once = {"manifest.json", "out/adapter_model.safetensors"}  # each retried after a 503
    run = run_remote(miner, tmp_path / "work")
    assert run.rc == 0, run.stderr[-3000:]
    types = run.types()
    assert types[0] == "started" and types[-1] == "done" and types.index("progress") < types.index("done")
    done = run.events[-1]
    assert set(miner.puts) == {a["path"] for a in done["artifacts"]}
    for a in done["artifacts"]:
        body = miner.puts[a["path"]]
        assert hashlib.sha256(body).hexdigest() == a["sha256"] and len(body) == a["bytes"]
    assert miner.gets.count("dataset/part one/train #1.jsonl") == 1 and miner.gets.count("manifest.json") == 2

    # Again on the same node: the dataset is already there, so only task.json and the manifest are fetched.
    miner.gets.clear()
    (tmp_path / "work" / "task-1.a" / "dataset" / "stale.jsonl").write_text('{"text": "not in the manifest"}\n')
    again = run_remote(miner, tmp_path / "work")
    assert again.rc == 0, again.stderr[-3000:]
    assert miner.gets == ["task.json", "manifest.json"]
    assert not (tmp_path / "work" / "task-1.a" / "dataset" / "stale.jsonl").exists()


@pytest.mark.parametrize("change", ["longer", "shorter", "same size"])
def test_remote_refuses_a_dataset_file_whose_hash_differs(
    tmp_path: Path, miner: Miner, toy_text: Path, change: str
) -> None:
    miner.serve_dataset(text_task(Path("/nonexistent")), toy_files(toy_text))
    body = miner.docs["dataset/part one/train #1.jsonl"]
    tampered = {"longer": body + b"{}\n", "shorter": body[:-5], "same size": body[:-3] + b"}}\n"}
    miner.docs["dataset/part one/train #1.jsonl"] = tampered[change]
    run = run_remote(miner, tmp_path / "work")
    assert run.rc == 1
    assert run.types() == ["error"] and run.events[0]["code"] == "dataset_invalid"
    assert "'part one/train #1.jsonl'" in run.events[0]["message"]
    assert not (tmp_path / "work" / "task-1.a" / "out").exists()  # the trainer never started
    assert not (tmp_path / "work" / "task-1.a" / "dataset" / "part one" / "train #1.jsonl").exists()


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a/../../x", "a/./b", "a//b", "a\\b", "a\0b", ""])
def test_remote_refuses_an_unsafe_manifest_path(tmp_path: Path, miner: Miner, bad: str) -> None:
    miner.serve_dataset(text_task(Path("/nonexistent")), {bad: b"data\n"})
    run = run_remote(miner, tmp_path / "work")
    assert run.rc == 1
    assert run.types() == ["error"] and run.events[0]["code"] == "dataset_invalid"
    assert repr(bad) in run.events[0]["message"]
    assert not any(path.startswith("dataset/") for path in miner.gets)
    assert not (tmp_path / "x").exists() and not (tmp_path / "work" / "x").exists()


@pytest.mark.parametrize(
    "bad", [("--name", "../up"), ("--fetch", f"http://127.0.0.1:1/v1/{TOKEN}"), ("--put", "file:///")]
)
def test_remote_refuses_bad_arguments_without_repeating_urls(
    tmp_path: Path, miner: Miner, bad: tuple[str, str]
) -> None:
    argv = remote_argv(miner, tmp_path / "work")
    argv[argv.index(bad[0]) + 1] = bad[1]
    proc = subprocess.run(argv, cwd=ROOT, env=env(), capture_output=True, text=True)
    assert proc.returncode == 1 and TOKEN not in proc.stdout + proc.stderr
    [event] = [check_event(line) for line in proc.stdout.splitlines()]
    assert event["code"] == "config_invalid" and bad[0] in event["message"]
    assert miner.gets == [] and not (tmp_path / "up").exists()


def test_remote_sigterm_mid_training_checkpoints_and_cancels(
    tmp_path: Path, miner: Miner, tiny_llama: Path, toy_text: Path
) -> None:
    miner.serve_dataset(text_task(tiny_llama, max_steps=10000, checkpoint_every=0), toy_files(toy_text))
    proc = subprocess.Popen(
        remote_argv(miner, tmp_path / "work"), cwd=ROOT, env=env(), stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    watchdog = threading.Timer(180, proc.kill)
    watchdog.start()
    seen, signalled = [], None
    for line in proc.stdout:
        seen.append(check_event(line))
        if seen[-1]["type"] == "progress" and signalled is None:
            proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
    rc = proc.wait(timeout=30)
    watchdog.cancel()
    assert signalled is not None and time.monotonic() - signalled < 30
    assert rc == 1 and [e["type"] for e in seen[-2:]] == ["checkpoint", "error"], seen[-3:]
    assert seen[-1]["code"] == "cancelled"
    assert miner.puts == {}


def test_remote_reports_an_upload_that_keeps_failing(
    tmp_path: Path, miner: Miner, tiny_llama: Path, toy_text: Path
) -> None:
    miner.serve_dataset(text_task(tiny_llama, max_steps=2), toy_files(toy_text))
    miner.put_status = 500
    run = run_remote(miner, tmp_path / "work")
    assert run.rc == 1
    assert run.types()[-2:] == ["done", "error"]
    error = run.events[-1]
    assert error["code"] == "internal"
    host = miner.base.split("/")[2]
    assert error["message"].startswith("Cannot return artifact ")
    assert f" to the miner at {host}: HTTP 500" in error["message"]


def test_remote_stops_the_trainer_when_its_parent_is_killed(
    tmp_path: Path, subreaper: None, miner: Miner, tiny_llama: Path, toy_text: Path
) -> None:
    miner.serve_dataset(text_task(tiny_llama, max_steps=10000, checkpoint_every=0), toy_files(toy_text))
    events = tmp_path / "events.jsonl"
    parent, wrapper = orphan(remote_argv(miner, tmp_path / "work"), tmp_path, stdout=events)
    wait_for(lambda: '"progress"' in events.read_text(), 120, "the first progress event")
    kill_parent(parent)
    status, waited = reap(wrapper, timeout_s=30)
    seen = [check_event(line) for line in events.read_text().splitlines()]
    assert status == 1 and waited < 15
    assert [e["type"] for e in seen[-2:]] == ["checkpoint", "error"] and seen[-1]["code"] == "cancelled"
    assert not processes_naming(str(tmp_path / "work")), "the trainer outlived its wrapper"


def processes_naming(text: str) -> list[int]:
    """Live processes whose command line contains `text`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and text in (proc / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(proc.name))
        except OSError:
            continue  # gone meanwhile
    return found


def test_trainer_argv_runs_under_torchrun_only_on_several_gpus(tmp_path: Path) -> None:
    from trainer.remote import trainer_argv

    one = trainer_argv(tmp_path, resume=True, allow_remote_code=False, nprocs=1)
    assert one[1:4] == ["-m", "trainer", "run"] and one[-1] == "--resume"
    two = trainer_argv(tmp_path, resume=False, allow_remote_code=False, nprocs=2)
    assert two[1:3] == ["-m", "torch.distributed.run"] and two[two.index("--nproc_per_node") + 1] == "2"
    assert two[-4:-2] == ["--dataset", str(tmp_path / "dataset")]
