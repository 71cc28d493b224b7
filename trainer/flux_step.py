"""One FLUX flow-matching forward pass, apart from the session so bench/gpu_check.py times the very code the
trainer runs: sample a latent from the cached VAE mean/std, a sigma from the scheduler (uniform timesteps,
diffusers' weighting_scheme "none"), `x_t = (1-σ)·x0 + σ·noise`, pack the latents, run the transformer with
`img_ids`/`txt_ids` and guidance, and take the MSE to `noise - x0` per sample."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class FlowSetup:
    """What the loss needs besides the batch; the session fills it from the pipeline it loaded."""

    model: Any  # the FLUX transformer with its LoRA
    sigmas: torch.Tensor  # the scheduler's training sigmas
    timesteps: torch.Tensor
    num_train_timesteps: int
    shift_factor: float
    scaling_factor: float
    vae_scale_factor: int
    guidance_scale: float
    device: torch.device
    dtype: torch.dtype
    seed: int


def per_sample_loss(
    s: FlowSetup, items: list[dict[str, Any]], noise: torch.Tensor | None = None, sigma: float | None = None
) -> torch.Tensor:
    """The flow-matching loss of each item (all of one latent shape), shape [len(items)]. With `sigma`: the
    eval's fixed sigma on the latent mean, with fixed noise drawn from `seed` unless `noise` is given."""
    from diffusers import FluxPipeline

    dev, dt = s.device, s.dtype
    mean = torch.stack([it["mean"] for it in items]).to(dev, torch.float32)
    std = torch.stack([it["std"] for it in items]).to(dev, torch.float32)
    gen = torch.Generator(device="cpu").manual_seed(s.seed) if noise is None and sigma is not None else None
    latents = mean if sigma is not None else mean + std * torch.randn_like(mean)
    latents = (latents - s.shift_factor) * s.scaling_factor
    b, c, h, w = latents.shape
    if noise is None:
        noise = torch.randn(latents.shape, generator=gen).to(dev) if gen is not None else torch.randn_like(latents)
    n = s.num_train_timesteps
    if sigma is None:
        indices = (torch.rand(b) * n).long()
        sigmas = s.sigmas[indices].to(dev, torch.float32)
        timesteps = s.timesteps[indices].to(dev)
    else:
        sigmas = torch.full((b,), sigma, device=dev)
        timesteps = sigmas * n
    x = sigmas.view(b, 1, 1, 1)
    noisy = (1.0 - x) * latents + x * noise
    packed = FluxPipeline._pack_latents(noisy.to(dt), b, c, h, w)
    img_ids = FluxPipeline._prepare_latent_image_ids(b, h // 2, w // 2, dev, dt)
    pe = torch.cat([it["embeds"][0] for it in items]).to(dev, dt)
    pooled = torch.cat([it["embeds"][1] for it in items]).to(dev, dt)
    txt_ids = items[0]["embeds"][2].to(dev, dt)
    guidance = torch.full((b,), s.guidance_scale, device=dev) if s.model.config.guidance_embeds else None
    pred = s.model(
        hidden_states=packed,
        timestep=(timesteps / 1000).to(dt),
        guidance=guidance,
        pooled_projections=pooled,
        encoder_hidden_states=pe,
        txt_ids=txt_ids,
        img_ids=img_ids,
        return_dict=False,
    )[0]
    pred = FluxPipeline._unpack_latents(pred, h * s.vae_scale_factor, w * s.vae_scale_factor, s.vae_scale_factor)
    target = noise - latents
    return ((pred.float() - target.float()) ** 2).reshape(b, -1).mean(1)


def merged_loss(s: FlowSetup, batches: list[list[dict[str, Any]]]) -> torch.Tensor:
    """The sum of each micro-batch's mean loss, running batches of one latent shape as one forward pass
    (several images per GPU): each sample weighs 1 / its micro-batch's size, so the gradient is the one the
    micro-batches would give one by one."""
    total = torch.zeros((), device=s.device)
    start = 0
    while start < len(batches):
        shape = batches[start][0]["mean"].shape
        end = start + 1
        while end < len(batches) and batches[end][0]["mean"].shape == shape:
            end += 1
        group = batches[start:end]
        weights = torch.tensor([1 / len(b) for b in group for _ in b], device=s.device)
        total = total + (per_sample_loss(s, [it for b in group for it in b]) * weights).sum()
        start = end
    return total
