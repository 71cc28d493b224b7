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

from .tiny_models import build_tiny_flux, build_tiny_llama

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "trainer" / "schema"
EVENTS = Draft202012Validator(json.loads((SCHEMA_DIR / "events.schema.json").read_text()))


def env() -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TRAINER_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "2",
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


def command(task: Path, dataset: Path, out: Path, resume: bool = False) -> list[str]:
    args = [sys.executable, "-m", "trainer", "run", "--task", str(task), "--dataset", str(dataset), "--out", str(out)]
    return args + (["--resume"] if resume else [])


def write_task(tmp: Path, task: dict[str, Any]) -> Path:
    path = tmp / f"task-{task.get('task_id', 'x')}.json"
    path.write_text(json.dumps(task))
    return path


def run_trainer(tmp: Path, task: dict[str, Any], dataset: Path, out: Path | None = None, resume: bool = False) -> Run:
    out = out or tmp / "out"
    proc = subprocess.run(
        command(write_task(tmp, task), dataset, out, resume),
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    events = [check_event(line) for line in proc.stdout.splitlines()]
    return Run(proc.returncode, events, proc.stderr, out)


def stream_trainer(
    tmp: Path, task: dict[str, Any], dataset: Path, out: Path
) -> tuple[subprocess.Popen[str], Iterator[dict[str, Any]]]:
    proc = subprocess.Popen(
        command(write_task(tmp, task), dataset, out),
        cwd=ROOT,
        env=env(),
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


ANIMALS = {"cat": "meow meow", "dog": "woof woof", "bird": "tweet tweet", "cow": "moo moo"}


def toy_rows(n: int = 48) -> list[dict[str, str]]:
    names = list(ANIMALS)
    return [{"prompt": f"what does the {names[i % 4]} say?", "response": ANIMALS[names[i % 4]]} for i in range(n)]


@pytest.fixture
def toy_text(tmp_path: Path) -> Path:
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "train.jsonl").write_text("\n".join(json.dumps(r) for r in toy_rows()) + "\n")
    return ds


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
    import numpy as np
    from PIL import Image

    ds = tmp_path / "images"
    ds.mkdir()
    for i in range(6):
        a = np.zeros((32, 48 if i % 2 else 32, 3), np.uint8)
        a[:, :, i % 3] = 220
        a[::4] = 40
        Image.fromarray(a).save(ds / f"img{i}.png")
        (ds / f"img{i}.txt").write_text(["a red square", "a green stripe", "a blue box"][i % 3])
    return ds


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
