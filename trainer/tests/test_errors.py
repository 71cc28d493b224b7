"""Each bad input gives one `error` event with its stable code, exit status 1, and no success artifacts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import image_task, run_trainer, text_task


def assert_error(run: Any, code: str, needle: str) -> None:
    assert run.rc == 1, run.stderr[-2000:]
    assert [e["type"] for e in run.events][-1] == "error"
    error = run.one("error")
    assert error["code"] == code, error
    assert needle in error["message"], error
    assert "done" not in run.by_type
    assert not (run.out / "adapter_model.safetensors").exists()
    assert not (run.out / "pytorch_lora_weights.safetensors").exists()


TEXT_CASES = {
    "missing dataset": ({}, None, "dataset_invalid", "no such file"),
    "empty file": ({}, {"d.jsonl": ""}, "dataset_invalid", "no rows"),
    "corrupt line": ({}, {"d.jsonl": '{"text": "a"}\n{nope'}, "dataset_invalid", "'d.jsonl' line 2"),
    "wrong columns": ({}, {"d.csv": "a,b\n1,2\n"}, "dataset_invalid", "'a'"),
    "model not found": ({"base_model": "/nonexistent/model"}, None, "model_not_found", "/nonexistent/model"),
    "bad hyperparameter": ({"hyperparameters": {"rank": 0}}, None, "config_invalid", "rank"),
    "unknown field": ({"hyperparameters": {"ranks": 4}}, None, "config_invalid", "hyperparameters.ranks"),
    "fp16 on cpu": ({"hyperparameters": {"precision": "fp16"}}, None, "config_invalid", "fp16"),
    "bad target modules": ({"hyperparameters": {"target_modules": ["nope"]}}, None, "config_invalid", "nope"),
    "remote code not allowed": ({"trust_remote_code": True}, None, "config_invalid", "allow-remote-code"),
}


@pytest.mark.parametrize("case", list(TEXT_CASES))
def test_run_text_bad_input_gives_its_code(tmp_path: Path, tiny_llama: Path, toy_text: Path, case: str) -> None:
    override, files, code, needle = TEXT_CASES[case]
    task = {**text_task(tiny_llama, max_steps=2), **override}
    dataset = toy_text
    if case == "missing dataset":
        dataset = tmp_path / "nothing"
    elif files is not None:
        dataset = tmp_path / "bad"
        dataset.mkdir()
        for name, text in files.items():
            (dataset / name).write_text(text)
    assert_error(run_trainer(tmp_path, task, dataset), code, needle)


def test_run_bad_task_file_is_config_invalid(tmp_path: Path, toy_text: Path) -> None:
    import subprocess

    from .conftest import ROOT, check_event, command, env

    (tmp_path / "task.json").write_text("{not json")
    proc = subprocess.run(
        command(tmp_path / "task.json", toy_text, tmp_path / "out"), cwd=ROOT, env=env(), capture_output=True, text=True
    )
    events = [check_event(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 1 and [e["code"] for e in events] == ["config_invalid"]


def test_run_image_unreadable_image_is_dataset_invalid(tmp_path: Path, tiny_flux: Path, toy_images: Path) -> None:
    (toy_images / "broken.png").write_bytes(b"\x89PNG not really")
    assert_error(run_trainer(tmp_path, image_task(tiny_flux), toy_images), "dataset_invalid", "broken.png")


def test_run_image_metadata_without_caption_column(tmp_path: Path, tiny_flux: Path, toy_images: Path) -> None:
    (toy_images / "metadata.jsonl").write_text(json.dumps({"file_name": "img0.png", "prompt": "x"}) + "\n")
    run = run_trainer(tmp_path, image_task(tiny_flux), toy_images)
    assert_error(run, "dataset_invalid", "'caption'")


def test_run_image_quantization_on_cpu_is_config_invalid(tmp_path: Path, tiny_flux: Path, toy_images: Path) -> None:
    run = run_trainer(tmp_path, image_task(tiny_flux, quantization="nf4"), toy_images)
    assert_error(run, "config_invalid", "nf4")
