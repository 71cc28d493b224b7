"""The cases bench/gpu_check.py times. Ours: our trainer's own step code (the loop of
trainer/loop.py over trainer/flux_step.py or trainer/text.py's forward_loss, with the levers
trainer/speed.py resolves). Baseline: a bare loop of the same model, data and LoRA. Models are
built from the shapes in bench/gpu_models.json with random weights on the device."""

from __future__ import annotations

import contextlib
import io
import json
import math
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from trainer import data, optim, speed, text
from trainer.cancel import Cancel
from trainer.config import ImageHyperparameters, Speed, TextHyperparameters
from trainer.flux_lora import blocks, prepare_transformer
from trainer.flux_step import FlowSetup, merged_loss
from trainer.loop import train_loop
from trainer.parallel import Parallel

MODELS = json.loads((Path(__file__).parent / "gpu_models.json").read_text())


@dataclass(frozen=True)
class Sizes:
    flux: dict[str, Any]
    t5_tokens: int
    resolutions: tuple[int, int]  # (small, large) px
    qwen: dict[str, Any]
    seq: int
    text_batch: int  # samples per micro-batch (packed: half as many rows of `seq`)
    median_len: int  # of the text samples' log-normal length spread


FULL = Sizes(MODELS["flux_dev"], 512, (512, 1024), MODELS["qwen_7b"], 2048, 4, 600)
TINY = Sizes(MODELS["flux_tiny"], 8, (32, 64), MODELS["qwen_tiny"], 64, 4, 20)


@dataclass(frozen=True)
class Run:
    """How one case runs: where, in what dtype, how many steps."""

    device: torch.device
    dtype: torch.dtype
    steps: int  # timed
    warmup: int  # untimed, first
    backend: str = "inductor"  # torch.compile's

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=self.dtype)
        return contextlib.nullcontext()


@dataclass
class Timed:
    step_s: float  # median seconds per optimizer step after warm-up
    per_step: float  # images or real tokens per optimizer step


def run_ours(
    hp: Any, model: Any, micro_step: Callable, r: Run, per_forward: int
) -> float:
    """trainer/loop.py (LR, clipping, progress events, cancel checks) with the trainer's
    optimizer and levers; the median seconds per step after warm-up."""
    levers = speed.resolve(hp.speed, r.device, hp.max_steps)
    speed.apply_tf32(levers.tf32)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = optim.build_optimizer(params, hp, fused=levers.fused_optimizer)
    with contextlib.redirect_stdout(io.StringIO()):  # progress events: written, dropped
        result = train_loop(
            hp=hp,
            params=params,
            optimizer=opt,
            scaler=None,
            micro_step=micro_step,
            start=0,
            total=hp.max_steps,
            device=r.device,
            cancel=Cancel(),
            save_checkpoint=lambda step, rng: None,
            par=Parallel(),
            per_forward=per_forward,
        )
    return statistics.median(result.step_seconds[r.warmup :])


def run_bare(step: Callable[[int], torch.Tensor], r: Run) -> float:
    speed.apply_tf32(False)  # torch's default: the baseline gets no lever of ours
    times = []
    for i in range(r.steps + r.warmup):
        start = time.perf_counter()
        step(i).item()  # it logs its loss every step: one sync per step, as ours does
        times.append(time.perf_counter() - start)
    return statistics.median(times[r.warmup :])


# ---- FLUX ---------------------------------------------------------------------------
def build_flux(sizes: Sizes, r: Run) -> Any:
    from diffusers import FluxTransformer2DModel

    before = torch.get_default_dtype()
    torch.set_default_dtype(r.dtype)
    try:
        with torch.device(r.device):
            return FluxTransformer2DModel(**sizes.flux)
    finally:
        torch.set_default_dtype(before)


def flux_items(sizes: Sizes, resolution: int, n: int) -> list[dict[str, Any]]:
    """Cached items as the trainer holds them: VAE latent mean/std, T5 + CLIP embeddings."""
    gen = torch.Generator().manual_seed(0)
    ch, side, cfg = sizes.flux["in_channels"] // 4, resolution // 8, sizes.flux
    pe = torch.randn(1, sizes.t5_tokens, cfg["joint_attention_dim"], generator=gen)
    pooled = torch.randn(1, cfg["pooled_projection_dim"], generator=gen)
    embeds = (pe, pooled, torch.zeros(sizes.t5_tokens, 3))
    std = torch.full((ch, side, side), 0.1)
    return [
        {
            "mean": torch.randn(ch, side, side, generator=gen),
            "std": std,
            "embeds": embeds,
        }
        for _ in range(n)
    ]


def flow_setup(model: Any, r: Run) -> FlowSetup:
    from diffusers import FlowMatchEulerDiscreteScheduler

    sched = FlowMatchEulerDiscreteScheduler(shift=3.0)  # FLUX.1-dev's; VAE factors too
    sigmas, steps = sched.sigmas, sched.timesteps
    return FlowSetup(
        model, sigmas, steps, 1000, 0.1159, 0.3611, 8, 3.5, r.device, r.dtype, 0
    )


def flux_lora() -> Any:
    from peft import LoraConfig

    targets = MODELS["flux_targets"]
    return LoraConfig(
        r=16, lora_alpha=16, init_lora_weights="gaussian", target_modules=targets
    )


def flux_ours(
    sizes: Sizes,
    resolution: int,
    r: Run,
    quantization: str = "none",
    checkpointing: bool = False,
    compiled: bool = False,
    per_forward: int = 1,
) -> Timed:
    hp = ImageHyperparameters(
        rank=16,
        alpha=16,
        dropout=0.0,
        gradient_accumulation=per_forward,
        resolution=resolution,
        max_steps=r.steps + r.warmup,
        checkpoint_every=0,
        speed=Speed(compile="on" if compiled else "off"),
    )
    cuda = r.device.type == "cuda"
    model = prepare_transformer(
        build_flux(sizes, r),
        quantization=quantization,
        checkpointing=checkpointing,
        lora=flux_lora(),
        device=r.device,
        dtype=r.dtype,
        attention=speed.attention_of(hp.speed, cuda, speed.flash_installed()),
    )
    if compiled:
        speed.compile_blocks(blocks(model), backend=r.backend)
    setup, items = flow_setup(model, r), flux_items(sizes, resolution, per_forward)

    def micro_step(indices: list[int]) -> tuple[torch.Tensor, int, None]:
        batches = [[it] for it in items[: len(indices)]]  # as ImageSession.micro_step
        return merged_loss(setup, batches), len(indices), None

    return Timed(run_ours(hp, model, micro_step, r, per_forward), per_forward)


def flux_baseline(sizes: Sizes, resolution: int, r: Run) -> Timed:
    """The loop of diffusers' train_dreambooth_lora_flux.py (cached latents, weighting
    "none", bf16 mixed precision, which keeps the LoRA in bf16): noise, sigma, pack,
    predict, MSE, backward, clip, AdamW."""
    from diffusers import FluxPipeline as Pipe
    from diffusers.training_utils import (
        compute_density_for_timestep_sampling as density,
    )

    model = build_flux(sizes, r)
    model.requires_grad_(False)
    model.add_adapter(flux_lora())
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=1e-4, eps=1e-8)
    s, [item] = flow_setup(model, r), flux_items(sizes, resolution, 1)
    dev, dt = r.device, r.dtype

    def step(_: int) -> torch.Tensor:
        mean, std = item["mean"][None].to(dev, dt), item["std"][None].to(dev, dt)
        x0 = (mean + std * torch.randn_like(mean) - s.shift_factor) * s.scaling_factor
        b, c, h, w = x0.shape
        noise = torch.randn_like(x0)
        i = (density(weighting_scheme="none", batch_size=b) * 1000).long()
        sigma = s.sigmas[i].to(dev, dt).view(b, 1, 1, 1)
        packed = Pipe._pack_latents((1 - sigma) * x0 + sigma * noise, b, c, h, w)
        pe, pooled, txt_ids = (t.to(dev, dt) for t in item["embeds"])
        with r.autocast():
            pred = model(
                hidden_states=packed,
                timestep=s.timesteps[i].to(dev) / 1000,
                guidance=torch.full((b,), 3.5, device=dev),
                pooled_projections=pooled,
                encoder_hidden_states=pe,
                txt_ids=txt_ids,
                img_ids=Pipe._prepare_latent_image_ids(b, h // 2, w // 2, dev, dt),
                return_dict=False,
            )[0]
        pred = Pipe._unpack_latents(pred, h * 8, w * 8, 8)
        loss = (
            ((pred.float() - (noise - x0).float()) ** 2).reshape(b, -1).mean(1).mean()
        )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad()
        return loss.detach()

    return Timed(run_bare(step, r), 1)


# ---- text ---------------------------------------------------------------------------
def build_text(sizes: Sizes, r: Run, attn: str) -> Any:
    from transformers import AutoModelForCausalLM, Qwen2Config

    config = Qwen2Config(**sizes.qwen)
    with torch.device(r.device):
        try:
            return AutoModelForCausalLM.from_config(
                config, dtype=r.dtype, attn_implementation=attn
            )
        except TypeError:  # transformers before 4.56 spells it torch_dtype
            return AutoModelForCausalLM.from_config(
                config, torch_dtype=r.dtype, attn_implementation=attn
            )


def text_samples(sizes: Sizes, n: int = 64) -> list[data.Segment]:
    """Random tokens with a realistic length spread (log-normal around the median, capped
    at seq), the first quarter of each masked as its prompt."""
    rng = random.Random(0)
    out = []
    for _ in range(n):
        length = round(rng.lognormvariate(math.log(sizes.median_len), 0.7))
        length = max(4, min(sizes.seq, length))
        ids = [rng.randrange(4, sizes.qwen["vocab_size"]) for _ in range(length)]
        out.append((ids, [data.IGNORE] * (length // 4) + ids[length // 4 :]))
    return out


def text_ours(
    sizes: Sizes,
    r: Run,
    padding_free: bool = True,
    packed: bool = False,
    checkpointing: bool = False,
    compiled: bool = False,
) -> Timed:
    samples = text_samples(sizes)
    rows = data.pack(samples, sizes.seq) if packed else [[s] for s in samples]
    batch = max(1, sizes.text_batch // 2) if packed else sizes.text_batch
    hp = TextHyperparameters(
        target_modules=MODELS["text_targets"],
        batch_size=batch,
        max_seq_length=sizes.seq,
        max_steps=r.steps + r.warmup,
        checkpoint_every=0,
        speed=Speed(padding_free=padding_free, compile="on" if compiled else "off"),
    )
    kernel = speed.attention_of(
        hp.speed, r.device.type == "cuda", speed.flash_installed()
    )
    base = build_text(sizes, r, text.attn_implementation(kernel, padding_free))
    model = text.add_lora(base, hp, checkpointing, r.device)
    if compiled:
        speed.compile_blocks(text.layers_of(model), backend=r.backend, dynamic=True)
    model.train()
    tokens: list[int] = []

    def micro_step(indices: list[int]) -> tuple[torch.Tensor, int, int]:
        chunk = [rows[(indices[0] * batch + j) % len(rows)] for j in range(batch)]
        out = text.forward_loss(
            model,
            chunk,
            padding_free=padding_free,
            pad_id=0,
            device=r.device,
            dtype=r.dtype,
        )
        tokens.append(out[2])
        return out

    step_s = run_ours(hp, model, micro_step, r, 1)
    return Timed(step_s, statistics.mean(tokens[r.warmup :]))


def text_baseline(sizes: Sizes, r: Run) -> Timed:
    """The plainest transformers + peft loop: padded batches with a mask, SDPA, AdamW."""
    from peft import LoraConfig, get_peft_model

    model = build_text(sizes, r, "sdpa")
    model.config.use_cache = False
    targets, batch = MODELS["text_targets"], sizes.text_batch
    lora = LoraConfig(
        r=16,
        lora_alpha=32,
        lora_dropout=0.05,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora).to(r.device)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    samples, tokens = text_samples(sizes), []

    def step(i: int) -> torch.Tensor:
        chunk = [samples[(i * batch + j) % len(samples)] for j in range(batch)]
        tokens.append(data.tokens_in(chunk))
        with r.autocast():
            batch_ = {k: v.to(r.device) for k, v in data.collate(chunk, 0).items()}
            loss = model(**batch_).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad()
        return loss.detach()

    return Timed(run_bare(step, r), statistics.mean(tokens[r.warmup :]))
