"""FLUX LoRA pieces kept apart from the training session: default target modules, the 24 GB-mode
quantization choice, and the kohya/ComfyUI-keyed copy of the LoRA weights."""

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
