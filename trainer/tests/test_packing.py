"""Padding-free text batches on the tiny Llama (CPU): a micro-batch's samples in one row with their own
position ids, attention kept inside each sample (trainer/attention.py), and packing of whole samples, give
the padded batch's loss and gradients while putting only real tokens through the model."""

from __future__ import annotations

import json
import random
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import torch

from trainer import attention, data

from .conftest import run_trainer, text_task

SEQ = 64


def spread_samples(n: int = 24, seed: int = 0) -> list[data.Segment]:
    """Token sequences with a realistic spread of lengths (log-normal, 4..SEQ) and a masked prompt."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = max(4, min(SEQ, round(rng.lognormvariate(2.8, 0.6))))
        ids = [rng.randrange(4, 300) for _ in range(length)]
        prompt = rng.randrange(0, length // 2)
        out.append((ids, [data.IGNORE] * prompt + ids[prompt:]))
    return out


def lora_model(path: Path, attn: str) -> Any:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation=attn)
    model.config.use_cache = False  # as the trainer sets it: a cache turns off transformers' packed-row masks
    lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    model = get_peft_model(model, lora)
    for name, p in model.named_parameters():
        if "lora_B" in name:  # B starts at zero; give it weight so the LoRA shapes the loss and gradients
            torch.nn.init.normal_(p, std=0.02)
    return model


def loss_and_grads(model: Any, batch: dict[str, Any]) -> tuple[float, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    loss = model(**batch).loss
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_padding_free_and_packed_batches_give_the_padded_loss_and_gradients(tiny_llama: Path) -> None:
    samples = spread_samples()
    padded_model, varlen_model = lora_model(tiny_llama, "sdpa"), lora_model(tiny_llama, attention.register())
    padded = data.collate(samples, pad_id=3)
    ref_loss, ref_grads = loss_and_grads(padded_model, padded)
    blocks = data.pack(samples, SEQ)
    runs = {
        "padding-free": loss_and_grads(varlen_model, data.collate_flat(samples)),
        "packed, padding-free": loss_and_grads(varlen_model, data.collate_flat(blocks)),
        "packed, padded rows": loss_and_grads(padded_model, data.collate(blocks, pad_id=3)),
    }
    for name, (loss, grads) in runs.items():
        assert loss == pytest.approx(ref_loss, abs=1e-5), name
        assert grads.keys() == ref_grads.keys()
        for key, g in grads.items():
            assert torch.allclose(g, ref_grads[key], atol=1e-6, rtol=1e-4), (name, key)
    real = data.tokens_in(samples)
    assert data.collate_flat(samples)["input_ids"].numel() == real  # no padding at all
    assert padded["input_ids"].numel() > 1.5 * real  # the padded batch is mostly padding with this spread
    assert len(blocks) < len(samples) / 2 and data.tokens_in(blocks) == real


def test_pack_keeps_every_sample_whole_and_fills_blocks() -> None:
    samples = spread_samples(200, seed=1)
    blocks = data.pack(samples, SEQ)
    assert sorted(s for b in blocks for s in b) == sorted(samples)
    assert all(sum(len(s[0]) for s in b) <= SEQ for b in blocks)
    fill = data.tokens_in(samples) / (len(blocks) * SEQ)
    assert fill > 0.9, fill
    assert data.pack(samples, SEQ) == blocks  # deterministic


def test_collate_flat_marks_each_sample_with_its_own_positions_and_bounds() -> None:
    batch = data.collate_flat([([5, 6, 7], [-100, 6, 7]), [([8, 9], [8, 9]), ([10], [10])]])
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8, 9, 10]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7, -100, 9, -100]]  # nothing predicts a sample's first token
    assert batch["cu_seq_lens_q"].tolist() == [0, 3, 5, 6] and batch["max_length_q"] == 3


def test_run_text_padding_free_trains_like_the_padded_run(tmp_path: Path, tiny_llama: Path) -> None:
    ds = tmp_path / "spread"
    ds.mkdir()
    rng = random.Random(2)
    words = ["cat", "dog", "sun", "sky", "tree", "road", "blue", "fast"]
    rows = [
        {"prompt": " ".join(rng.choices(words, k=rng.randrange(1, 12))), "response": " ".join(rng.choices(words, k=3))}
        for _ in range(40)
    ]
    (ds / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    runs = {}
    for padding_free in (False, True):
        task = text_task(tiny_llama, max_steps=8, dropout=0.0, speed={"padding_free": padding_free})  # no RNG
        run = run_trainer(tmp_path, task, ds, out=tmp_path / f"out-{padding_free}")
        assert run.rc == 0, run.stderr[-3000:]
        runs[padding_free] = run
    for a, b in zip(runs[False].by_type["progress"], runs[True].by_type["progress"], strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-4), (a["step"], a["loss"], b["loss"])
    evals = [r.one("done")["metrics"]["eval_loss"] for r in runs.values()]
    assert evals[0] == pytest.approx(evals[1], abs=1e-4)
    started = runs[True].one("started")
    assert started["mode"] == "fp32" and "no GPU memory limit on the CPU" in started["mode_reason"]
    args = json.loads((runs[True].out / "training_args.json").read_text())["resolved"]
    assert (args["padding_free"], args["attn_implementation"]) == (True, attention.NAME)
    assert args["speed"]["compile"] is False and args["mode"]["name"] == "fp32"


def fake_varlen(q: Any, k: Any, v: Any, cu_q: Any, cu_k: Any, max_q: int, max_k: int, **kw: Any) -> Any:
    """torch.nn.attention.varlen_attn's contract ([T, H, D], causal as window (-1, 0)), per sample on the CPU."""
    assert kw.pop("window_size") == (-1, 0) and q.dim() == 3 and cu_q.dtype == torch.int32
    sdpa = torch.nn.functional.scaled_dot_product_attention
    bounds = cu_q.tolist()
    outs = [sdpa(*[t[s:e].transpose(0, 1)[None] for t in (q, k, v)], is_causal=True, **kw) for s, e in pairwise(bounds)]
    return torch.cat(outs, dim=2)[0].transpose(0, 1)


def test_attend_through_a_varlen_kernel_matches_per_sample_sdpa_with_grouped_heads(monkeypatch: Any) -> None:
    monkeypatch.setattr(attention, "torch_varlen", lambda: (fake_varlen, {"window_size": (-1, 0)}, True))
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(1, 4, 11, 8, generator=gen)
    k, v = torch.randn(1, 2, 11, 8, generator=gen), torch.randn(1, 2, 11, 8, generator=gen)
    cu = torch.tensor([0, 3, 11], dtype=torch.int32)
    kernel = attention._attend(q, k, v, cu, 8, scaling=None, dropout=0.0, kernel=True)
    loop = attention._attend(q, k, v, cu, 8, scaling=None, dropout=0.0, kernel=False)
    assert kernel.shape == (1, 11, 4, 8) and torch.allclose(kernel, loop, atol=1e-6)
    assert attention.torch_varlen_works(torch.device("cpu"), torch.float32) is False  # CUDA only
