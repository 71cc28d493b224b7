"""FLUX LoRA pieces kept apart from the training session: default target modules, the 24 GB-mode
quantization, the transformer's preparation for training (also what bench/gpu_check.py runs), and the
kohya/ComfyUI-keyed copy of the LoRA weights."""

from __future__ import annotations

from typing import Any

import torch

from .errors import TrainerError

TARGETS = ["attn.to_k", "attn.to_q", "attn.to_v", "attn.to_out.0"]
TARGETS += ["attn.add_k_proj", "attn.add_q_proj", "attn.add_v_proj", "attn.to_add_out"]


def quantization_config(kind: str, device: torch.device, dtype: torch.dtype) -> Any:
    """None for "none" and "fp8" (layerwise casting is applied after load); a bitsandbytes config for nf4."""
    if kind == "none":
        return None
    if device.type != "cuda":
        raise TrainerError("config_invalid", f'Cannot use hyperparameters.quantization "{kind}" without a CUDA GPU')
    if kind == "fp8":
        return None
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as err:
        raise TrainerError(
            "config_invalid", 'Cannot use hyperparameters.quantization "nf4": the bitsandbytes package is not installed'
        ) from err
    from diffusers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype)


def prepare_transformer(
    model: Any,
    *,
    quantization: str,
    checkpointing: bool,
    lora: Any,
    device: torch.device,
    dtype: torch.dtype,
    attention: str = "sdpa",
) -> Any:
    """Freeze the loaded transformer, store it as the mode says (fp8: diffusers layerwise casting, cast on the
    CPU before the move so bf16 never hits the GPU; nf4 is quantized at load), checkpoint its blocks if asked,
    pick its attention kernels and add the LoRA (`lora`: a peft LoraConfig), kept in fp32."""
    model.requires_grad_(False)
    if quantization == "fp8":
        model.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype)
    if quantization != "nf4":
        model.to(device)
    else:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    if checkpointing:
        model.enable_gradient_checkpointing()
    if attention == "flash":
        model.set_attention_backend("flash")
    try:
        model.add_adapter(lora)
    except ValueError as err:
        targets = sorted(lora.target_modules) if lora.target_modules else None
        raise TrainerError("config_invalid", f"Cannot add LoRA (target_modules {targets!r}): {err}") from err
    for p in model.parameters():
        if p.requires_grad:
            p.data = p.data.float()
    model.train()
    return model


def blocks(model: Any) -> list[Any]:
    """The repeated blocks regional compilation compiles one by one."""
    return [*model.transformer_blocks, *model.single_transformer_blocks]


def kohya_state_dict(lora: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """The same weights under `lora_transformer_<module_path_with_underscores>.lora_down/lora_up/alpha` keys
    (the OneTrainer/kohya-style names ComfyUI maps onto FLUX's diffusers module layout)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in lora.items():
        module, _, kind = key.rpartition(".lora_")
        name = "lora_transformer_" + module.replace(".", "_")
        out[f"{name}.{'lora_down' if kind.startswith('A') else 'lora_up'}.weight"] = value.contiguous()
        out[f"{name}.alpha"] = torch.tensor(float(alpha))
    return out
