"""Data-parallel training under torchrun on the CPU (gloo): 2 ranks take the same steps as one process
with twice the gradient accumulation, only rank 0 writes events and files, SIGTERM checkpoints once and
resumes, and a failure on rank 1 reaches the event stream as rank 0's one `error` event.

Tolerance: N ranks with accumulation a see the same micro-batches as one process with accumulation a·N
(parallel.py) and, with LoRA dropout 0, compute the same gradients; only the order of float32 sums
differs ((g0 + g1) / 2 all-reduced vs g0 / 2 + g1 / 2 accumulated), which moves losses by a few ulps
(~2e-7 at loss ~5). 1e-5 leaves room for that to grow over the steps and catches any real difference
(a wrong shard or a missing all-reduce changes the losses by > 1e-2 after the first step)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from .conftest import ROOT, check_event, env, run_trainer, stream_trainer, text_task, write_task

TOL = 1e-5


def ddp_task(model: Path, **hp: Any) -> dict[str, Any]:
    return text_task(model, batch_size=2, dropout=0, learning_rate=0.01, target_modules=["q_proj", "v_proj"], **hp)


def losses(run: Any) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in run.by_type["progress"]}


def test_ddp_two_ranks_match_one_process_with_the_same_global_batch(
    tmp_path: Path, tiny_llama: Path, toy_text: Path
) -> None:
    ddp = run_trainer(tmp_path, ddp_task(tiny_llama, max_steps=14), toy_text, out=tmp_path / "ddp", nproc=2)
    assert ddp.rc == 0, ddp.stderr[-3000:]
    assert [e["type"] for e in ddp.events][:2] == ["started", "eval"] and ddp.events[-1]["type"] == "done"
    ddp.one("started")  # rank 1 writes no events
    assert ddp.one("quality")["passed"]
    assert ddp.one("done")["metrics"]["processes"] == 2
    single = run_trainer(
        tmp_path, ddp_task(tiny_llama, max_steps=14, gradient_accumulation=2), toy_text, out=tmp_path / "one"
    )
    assert single.rc == 0, single.stderr[-3000:]
    got, want = losses(ddp), losses(single)
    assert sorted(got) == list(range(1, 15))
    assert sum(list(got.values())[-4:]) < sum(list(got.values())[:4])
    for step, loss in got.items():
        assert abs(loss - want[step]) < TOL, (step, loss, want[step])
    assert abs(ddp.one("done")["metrics"]["eval_loss"] - single.one("done")["metrics"]["eval_loss"]) < TOL

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_llama)
    a = PeftModel.from_pretrained(base, ddp.out, adapter_name="ddp")
    a.load_adapter(str(single.out), adapter_name="one")
    params = dict(a.named_parameters())
    trained = [name for name in params if ".ddp." in name]
    assert len(trained) == 8  # lora_A/B of q_proj/v_proj in 2 layers
    for name in trained:
        assert torch.allclose(params[name], params[name.replace(".ddp.", ".one.")], atol=1e-5), name


def test_ddp_sigterm_checkpoints_once_and_resume_continues(tmp_path: Path, tiny_llama: Path, toy_text: Path) -> None:
    task = ddp_task(tiny_llama, max_steps=60, checkpoint_every=10, lr_scheduler="cosine", warmup_steps=3)
    one_process = {**task, "hyperparameters": {**task["hyperparameters"], "gradient_accumulation": 2}}
    reference = run_trainer(tmp_path, one_process, toy_text, out=tmp_path / "ref")
    assert reference.rc == 0, reference.stderr[-3000:]

    out = tmp_path / "cut"
    proc, events = stream_trainer(tmp_path, task, toy_text, out, nproc=2)
    seen = []
    for event in events:
        seen.append(event)
        if event["type"] == "checkpoint":
            os.killpg(proc.pid, signal.SIGTERM)  # the whole group, as the miner cancels
    assert proc.wait(timeout=60) != 0
    assert seen[-1]["type"] == "error" and seen[-1]["code"] == "cancelled", seen[-3:]
    assert seen[-2]["type"] == "checkpoint" and [e["type"] for e in seen].count("error") == 1
    stopped = seen[-2]["step"]
    assert 10 <= stopped < 60

    resumed = run_trainer(tmp_path, task, toy_text, out=out, resume=True, nproc=2)
    assert resumed.rc == 0, resumed.stderr[-3000:]
    assert resumed.one("started")["start_step"] == stopped
    assert sorted(losses(resumed)) == list(range(stopped + 1, 61))
    want = losses(reference)
    for step, loss in losses(resumed).items():
        assert abs(loss - want[step]) < TOL, (step, loss, want[step])


def test_checkpoint_from_another_world_size_is_invalid(tmp_path: Path) -> None:
    from trainer import checkpoint
    from trainer.errors import TrainerError
    from trainer.parallel import Parallel

    meta = {"fingerprint": "f", "world_size": 2}
    checkpoint.save(tmp_path, 10, {"w": torch.zeros(1)}, {}, [{}, {}], meta)
    with pytest.raises(TrainerError) as err:
        checkpoint.restore(tmp_path, "f", None, None, None, Parallel())
    assert err.value.code == "checkpoint_invalid" and "2 process(es)" in err.value.message


FAIL_ON_RANK_1 = """
import os, sys
import torch
from trainer import text
if os.environ["RANK"] == "1":
    real = text.TextSession.micro_step
    def micro_step(self, indices):
        if max(indices) >= 9:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected on rank 1)")
        return real(self, indices)
    text.TextSession.micro_step = micro_step
from trainer.__main__ import main
sys.exit(main())
"""


def test_ddp_failure_on_rank_1_is_rank_0s_one_error_event(tmp_path: Path, tiny_llama: Path, toy_text: Path) -> None:
    script = tmp_path / "fail_rank_1.py"
    script.write_text(FAIL_ON_RANK_1)
    task = write_task(tmp_path, ddp_task(tiny_llama, max_steps=20))
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", "2"]
    args = [str(script), "run", "--task", str(task), "--dataset", str(toy_text), "--out", str(tmp_path / "out")]
    proc = subprocess.run([*launcher, *args], cwd=ROOT, env=env(2), capture_output=True, text=True, timeout=120)
    events = [check_event(line) for line in proc.stdout.splitlines()]
    assert proc.returncode != 0
    assert [e["type"] for e in events].count("error") == 1 and events[-1]["type"] == "error", proc.stderr[-3000:]
    assert events[-1]["code"] == "oom" and "rank 1" in events[-1]["message"], events[-1]
    assert [e["step"] for e in events if e["type"] == "progress"] == [1, 2, 3, 4]
    assert not (tmp_path / "out" / "adapter_model.safetensors").exists()
