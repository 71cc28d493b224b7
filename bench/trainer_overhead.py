"""Trainer overhead: wall time per optimizer step of our text trainer's loop (trainer/loop.py via
TextSession: LR schedule, clipping, progress events, checkpoint/cancel checks) divided by a bare
torch + peft loop on the same tiny Llama, data, batches and step count, measured in one process with
the two interleaved. Goal: ratio <= 1.03. Prints one JSON line and one human line.

Run: .venv/bin/python bench/trainer_overhead.py [--steps N] [--rounds R]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch

from trainer import data
from trainer.cancel import Cancel
from trainer.config import parse_spec
from trainer.text import TextSession, to_device
from trainer.tiny import build_tiny_llama

WARMUP = 3


def make_dataset(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    words = [
        "the",
        "cat",
        "sat",
        "on",
        "the",
        "mat",
        "while",
        "a",
        "dog",
        "ran",
        "in",
        "the",
        "park",
        "and",
        "a",
        "bird",
        "sang",
    ]
    rows = [
        {"text": " ".join(words[(i + j) % len(words)] for j in range(60))}
        for i in range(256)
    ]
    (folder / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return folder


def session(model: Path, dataset: Path, out: Path, steps: int) -> TextSession:
    spec = parse_spec(
        {
            "task_id": "bench",
            "type": "text",
            "base_model": str(model),
            "hyperparameters": {
                "max_steps": steps,
                "batch_size": 8,
                "max_seq_length": 128,
                "checkpoint_every": 0,
                "learning_rate": 1e-3,
                "seed": 0,
            },
            "dataset": {"eval_fraction": 0.05},
        }
    )
    s = TextSession(spec, dataset, out)  # type: ignore[arg-type]
    s.prepare(resume=False)
    return s


def ours(model: Path, dataset: Path, out: Path, steps: int) -> list[float]:
    s = session(model, dataset, out, steps)
    with contextlib.redirect_stdout(
        io.StringIO()
    ):  # the events are still written, just not shown
        result = s.train(Cancel())
    return result.step_seconds[WARMUP:]


def bare(model: Path, dataset: Path, out: Path, steps: int) -> list[float]:
    """The same model, adapter, data and batches, trained by the plainest loop peft's docs show."""
    s = session(model, dataset, out, steps)
    m, opt = s.model, s.optimizer
    m.train()
    order = data.epoch_order(len(s.train_samples), s.hp.batch_size, s.hp.seed, 0)
    times = []
    last = time.perf_counter()
    for step in range(steps):
        batch = to_device(
            s.collate([s.train_samples[i] for i in order[step % len(order)]]), s.device
        )  # the same batch layout as ours (padding-free by default)
        loss = m(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if s.device.type == "cuda":
            torch.cuda.synchronize()
        now = time.perf_counter()
        times.append(now - last)
        last = now
    return times[WARMUP:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = build_tiny_llama(root / "model", hidden=256, layers=4)
        dataset = make_dataset(root / "data")
        ours_t: list[float] = []
        bare_t: list[float] = []
        for r in range(args.rounds):
            bare_t += bare(model, dataset, root / f"bare{r}", args.steps)
            ours_t += ours(model, dataset, root / f"ours{r}", args.steps)
    ours_ms = statistics.median(ours_t) * 1000
    bare_ms = statistics.median(bare_t) * 1000
    ratio = ours_ms / bare_ms
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    report = {
        "bench": "trainer_overhead",
        "ratio": round(ratio, 4),
        "goal": 1.03,
        "ours_ms_per_step": round(ours_ms, 3),
        "bare_ms_per_step": round(bare_ms, 3),
        "steps_per_round": args.steps,
        "rounds": args.rounds,
        "device": device,
    }
    print(json.dumps(report))
    verdict = "within" if ratio <= 1.03 else "ABOVE"
    print(
        f"trainer overhead: {ratio:.3f}x a bare torch+peft loop ({ours_ms:.1f} vs {bare_ms:.1f} ms/step on {device}), {verdict} the 1.03 goal"
    )


if __name__ == "__main__":
    main()
