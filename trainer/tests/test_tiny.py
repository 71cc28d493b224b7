"""`python -m trainer tiny`: the tiny model and toy dataset that local mode trains end to end on the CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from .conftest import ROOT, env, image_task, run_trainer

# What README.md recommends for a local text task on the tiny Llama (default quality threshold).
LOCAL_TEXT = {"max_steps": 30, "learning_rate": 0.01, "batch_size": 4, "max_seq_length": 64, "checkpoint_every": 0}


def tiny(tmp: Path, kind: str) -> dict[str, Any]:
    out = tmp / f"tiny-{kind}"
    cmd = [sys.executable, "-m", "trainer", "tiny", "--kind", kind, "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    paths = json.loads(lines[0])
    assert paths == {"model": str(out / "model"), "dataset": str(out / "dataset")}
    return paths


def test_tiny_text_trains_to_done_with_the_default_quality_check(tmp_path: Path) -> None:
    paths = tiny(tmp_path, "text")
    assert (Path(paths["dataset"]) / "train.jsonl").is_file()
    task = {"task_id": "local-text", "type": "text", "base_model": paths["model"], "hyperparameters": LOCAL_TEXT}
    run = run_trainer(tmp_path, task, Path(paths["dataset"]))
    assert run.rc == 0 and run.events[-1]["type"] == "done", run.stderr[-3000:]
    quality = run.one("quality")
    assert quality["passed"] and quality["adapter"] <= quality["base"] * 0.99
    steps = [e["loss"] for e in run.by_type["progress"]]
    assert sum(steps[-5:]) < 0.8 * sum(steps[:5])


def test_tiny_image_builds_a_flux_folder_and_images_that_train_on_2_ranks(tmp_path: Path) -> None:
    paths = tiny(tmp_path, "image")
    model, dataset = Path(paths["model"]), Path(paths["dataset"])
    assert (model / "model_index.json").is_file() and (model / "transformer").is_dir()
    images = sorted(dataset.glob("*.png"))
    assert len(images) >= 4 and all(p.with_suffix(".txt").read_text().strip() for p in images)
    # A real run on it, data parallel on 2 CPU ranks: the image path shares the DDP loop with text.
    task = image_task(model, max_steps=4, checkpoint_every=2)
    run = run_trainer(tmp_path, task, dataset, nproc=2)
    assert run.rc == 0 and run.events[-1]["type"] == "done", run.stderr[-3000:]
    assert [e["step"] for e in run.by_type["progress"]] == [1, 2, 3, 4]
    assert [e["step"] for e in run.by_type["checkpoint"]] == [2, 4]
    assert run.one("quality")["passed"] and run.one("done")["metrics"]["processes"] == 2
