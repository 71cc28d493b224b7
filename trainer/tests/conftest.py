"""Session-wide tiny models and helpers that run `python -m trainer run` as a subprocess and validate
every event it writes against trainer/schema/events.schema.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from trainer.tiny import build_tiny_flux, build_tiny_llama, build_toy_images, build_toy_text

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "trainer" / "schema"
EVENTS = Draft202012Validator(json.loads((SCHEMA_DIR / "events.schema.json").read_text()))


def env(nproc: int = 1) -> dict[str, str]:
    """Offline, quiet, and 2 threads in all on this 2-core CI box."""
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TRAINER_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": str(max(1, 2 // nproc)),
        "TOKENIZERS_PARALLELISM": "false",
    }


def check_event(line: str) -> dict[str, Any]:
    event = json.loads(line)
    errors = sorted(EVENTS.iter_errors(event), key=str)
    assert not errors, f"event does not match events.schema.json: {line}\n{errors[0].message}"
    return event


@dataclass
class Run:
    rc: int
    events: list[dict[str, Any]]
    stderr: str
    out: Path
    by_type: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for e in self.events:
            self.by_type.setdefault(e["type"], []).append(e)

    def one(self, type_: str) -> dict[str, Any]:
        found = self.by_type.get(type_, [])
        assert len(found) == 1, f"expected one {type_!r} event, got {len(found)}; stderr:\n{self.stderr[-3000:]}"
        return found[0]


def command(task: Path, dataset: Path, out: Path, resume: bool = False, nproc: int = 1) -> list[str]:
    """The trainer's command line; nproc > 1: under torchrun as actors/gpu/trainer_process.ts launches it."""
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", str(nproc)]
    args = [sys.executable, *(launcher if nproc > 1 else []), "-m", "trainer", "run", "--task", str(task)]
    return args + ["--dataset", str(dataset), "--out", str(out)] + (["--resume"] if resume else [])


def write_task(tmp: Path, task: dict[str, Any]) -> Path:
    path = tmp / f"task-{task.get('task_id', 'x')}.json"
    path.write_text(json.dumps(task))
    return path


def run_trainer(
    tmp: Path, task: dict[str, Any], dataset: Path, out: Path | None = None, resume: bool = False, nproc: int = 1
) -> Run:
    out = out or tmp / "out"
    proc = subprocess.run(
        command(write_task(tmp, task), dataset, out, resume, nproc),
        cwd=ROOT,
        env=env(nproc),
        capture_output=True,
        text=True,
        timeout=300,
    )
    events = [check_event(line) for line in proc.stdout.splitlines()]
    return Run(proc.returncode, events, proc.stderr, out)


def stream_trainer(
    tmp: Path, task: dict[str, Any], dataset: Path, out: Path, nproc: int = 1
) -> tuple[subprocess.Popen[str], Iterator[dict[str, Any]]]:
    """Started in its own session, so `os.killpg(proc.pid, …)` signals every rank as the miner does."""
    proc = subprocess.Popen(
        command(write_task(tmp, task), dataset, out, nproc=nproc),
        cwd=ROOT,
        env=env(nproc),
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )

    def events() -> Iterator[dict[str, Any]]:
        assert proc.stdout is not None
        for line in proc.stdout:
            yield check_event(line)

    return proc, events()


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture(scope="session")
def tiny_flux(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_flux(tmp_path_factory.mktemp("models") / "tiny-flux")


@pytest.fixture
def toy_text(tmp_path: Path) -> Path:
    return build_toy_text(tmp_path / "ds")


def text_task(model: Path, **hp: Any) -> dict[str, Any]:
    hyper = {
        "max_steps": 30,
        "learning_rate": 0.01,
        "batch_size": 4,
        "max_seq_length": 64,
        "checkpoint_every": 0,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        **hp,
    }
    return {"task_id": "text-1", "type": "text", "base_model": str(model), "hyperparameters": hyper}


@pytest.fixture
def toy_images(tmp_path: Path) -> Path:
    return build_toy_images(tmp_path / "images")


def image_task(model: Path, **hp: Any) -> dict[str, Any]:
    hyper = {
        "max_steps": 8,
        "learning_rate": 0.02,
        "resolution": 32,
        "checkpoint_every": 4,
        "rank": 4,
        "alpha": 4,
        "guidance_scale": 3.5,
        **hp,
    }
    return {
        "task_id": "image-1",
        "type": "image",
        "base_model": str(model),
        "hyperparameters": hyper,
        "quality": {"num_inference_steps": 2, "prompts": ["a red square", "a blue box"], "min_difference": 0.001},
    }
