"""Text LoRA end to end on a tiny Llama: training, artifacts, reload, resume after SIGTERM, quality failure."""

from __future__ import annotations

import hashlib
import json
import signal
from pathlib import Path

import torch

from .conftest import run_trainer, stream_trainer, text_task


def test_run_text_trains_and_writes_a_loadable_adapter(tmp_path: Path, tiny_llama: Path, toy_text: Path) -> None:
    run = run_trainer(tmp_path, text_task(tiny_llama), toy_text)
    assert run.rc == 0, run.stderr[-3000:]
    assert [e["type"] for e in run.events][:2] == ["started", "eval"]
    assert run.events[-1]["type"] == "done"
    losses = [e["loss"] for e in run.by_type["progress"]]
    assert len(losses) == 30 and sum(losses[-5:]) / 5 < sum(losses[:5]) / 5
    quality = run.one("quality")
    assert quality["passed"] and quality["adapter"] < quality["base"]
    done = run.one("done")
    names = {a["path"] for a in done["artifacts"]}
    assert names == {"adapter_config.json", "adapter_model.safetensors", "metrics.json", "training_args.json"}
    for a in done["artifacts"]:
        blob = (run.out / a["path"]).read_bytes()
        assert hashlib.sha256(blob).hexdigest() == a["sha256"] and len(blob) == a["bytes"]
    assert not (run.out / "checkpoints").exists() and not (run.out / ".staging").exists()
    metrics = json.loads((run.out / "metrics.json").read_text())
    assert metrics["eval_loss"] == done["metrics"]["eval_loss"]

    # The adapter reloads with PeftModel.from_pretrained and reproduces the trainer's eval loss.
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainer import data
    from trainer.config import TextDataset

    tok = AutoTokenizer.from_pretrained(tiny_llama)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama), run.out).eval()
    examples = data.load_examples(toy_text, TextDataset())
    _, eval_idx = data.split(len(examples), 0.1, 42)
    samples = [data.tokenize(tok, examples[i], 64) for i in eval_idx]
    total = count = 0.0
    with torch.no_grad():
        for i in range(0, len(samples), 4):
            batch = data.collate(samples[i : i + 4], tok.pad_token_id)
            n = int((batch["labels"][:, 1:] != data.IGNORE).sum())
            total += model(**batch).loss.item() * n
            count += n
    assert abs(total / count - metrics["eval_loss"]) < 1e-4


def test_run_text_resume_after_sigterm_continues_the_same_run(tmp_path: Path, tiny_llama: Path, toy_text: Path) -> None:
    task = text_task(
        tiny_llama,
        max_steps=120,
        checkpoint_every=20,
        learning_rate=0.002,
        lr_scheduler="cosine",
        warmup_steps=5,
        gradient_accumulation=2,
    )
    reference = run_trainer(tmp_path, task, toy_text, out=tmp_path / "ref")
    assert reference.rc == 0, reference.stderr[-3000:]
    ref_loss = {e["step"]: e["loss"] for e in reference.by_type["progress"]}

    out = tmp_path / "cut"
    proc, events = stream_trainer(tmp_path, task, toy_text, out)
    seen = []
    for event in events:
        seen.append(event)
        if event["type"] == "checkpoint":
            proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 1
    assert seen[-1]["type"] == "error" and seen[-1]["code"] == "cancelled", seen[-3:]
    assert seen[-2]["type"] == "checkpoint"
    stopped = seen[-2]["step"]
    assert 20 <= stopped < 120
    assert not (out / "adapter_model.safetensors").exists()

    resumed = run_trainer(tmp_path, task, toy_text, out=out, resume=True)
    assert resumed.rc == 0, resumed.stderr[-3000:]
    assert resumed.one("started")["start_step"] == stopped
    steps = [e["step"] for e in resumed.by_type["progress"]]
    assert steps == list(range(stopped + 1, 121))
    for e in resumed.by_type["progress"]:
        assert abs(e["loss"] - ref_loss[e["step"]]) < 1e-4, (e["step"], e["loss"], ref_loss[e["step"]])
    assert abs(resumed.one("done")["metrics"]["eval_loss"] - reference.one("done")["metrics"]["eval_loss"]) < 1e-4


def test_run_text_quality_failure_leaves_no_adapter(tmp_path: Path, tiny_llama: Path, toy_text: Path) -> None:
    task = text_task(tiny_llama, max_steps=3)
    task["quality"] = {"min_improvement": 0.9}
    run = run_trainer(tmp_path, task, toy_text)
    assert run.rc == 1
    assert run.one("quality")["passed"] is False
    assert run.one("error")["code"] == "quality_failed"
    assert "done" not in run.by_type
    assert not (run.out / "adapter_model.safetensors").exists()
    assert json.loads((run.out / "failed" / "metrics.json").read_text())["quality_passed"] is False


def test_run_text_packs_csv_instruction_data(tmp_path: Path, tiny_llama: Path) -> None:
    ds = tmp_path / "csv"
    ds.mkdir()
    rows = ["instruction,input,output"] + [f"say the word,{w},{w} {w}" for w in ["cat", "dog", "sun", "sky"] * 8]
    (ds / "data.csv").write_text("\n".join(rows) + "\n")
    task = text_task(tiny_llama, max_steps=20, packing=True, max_seq_length=128, gradient_checkpointing=True)
    run = run_trainer(tmp_path, task, ds)
    assert run.rc == 0, run.stderr[-3000:]
    started = run.one("started")
    assert started["train_samples"] < 29  # packed into 128-token blocks
