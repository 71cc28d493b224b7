"""Attention for padding-free text batches without the flash-attn package: the micro-batch is one row of
concatenated samples (data.collate_flat) whose bounds arrive as `cu_seq_lens_q`, and each sample attends
only to itself. On CUDA with PyTorch's own varlen kernel (`torch.nn.attention.varlen`, flash-based,
bf16/fp16), once it has passed a forward/backward self-test there, it is one call over the whole row;
elsewhere one causal SDPA call per sample, which is exact and skips no work but the padding. Batches without
bounds (padded eval, plain rows) go to transformers' SDPA.

Registered in transformers' AttentionInterface under NAME, with a mask function that builds no mask for a
row with bounds, so no (tokens × tokens) mask is ever materialised."""

from __future__ import annotations

import inspect
import itertools
import logging
from functools import cache
from typing import Any

import torch
import torch.nn.functional as F

log = logging.getLogger("trainer")
NAME = "sdpa_varlen"


@cache
def register() -> str:
    """Make NAME a valid `attn_implementation` (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    def mask(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("attention_mask") is None:
            return None  # causal within each sample: varlen_attention applies it from the bounds
        return sdpa_mask(*args, **kwargs)

    AttentionInterface.register(NAME, varlen_attention)
    AttentionMaskInterface.register(NAME, mask)
    return NAME


@cache
def torch_varlen() -> tuple[Any, dict[str, Any], bool] | None:
    """(varlen_attn, the keyword that makes it causal, whether it takes enable_gqa), or None when this torch
    has no usable varlen kernel. Its signature moved between releases, hence the inspection."""
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    params = inspect.signature(varlen_attn).parameters
    if "is_causal" in params:
        causal: dict[str, Any] = {"is_causal": True}
    elif "window_size" in params:
        causal = {"window_size": (-1, 0)}
    else:
        return None
    return varlen_attn, causal, "enable_gqa" in params


@cache
def torch_varlen_works(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether this torch's varlen kernel trains here: forward and backward of a tiny two-sample row
    against the per-sample SDPA path, once per device and dtype. Its API is young (no backward, or another
    signature, in some releases), so a kernel that fails or disagrees is simply not used."""
    if torch_varlen() is None or device.type != "cuda":
        return False
    try:
        gen = torch.Generator(device=device).manual_seed(0)
        q, k, v = (torch.randn(1, 4, 24, 64, device=device, dtype=dtype, generator=gen) for _ in range(3))
        cu = torch.tensor([0, 10, 24], dtype=torch.int32, device=device)
        outs = []
        for kernel in (True, False):
            leaves = [t.detach().requires_grad_() for t in (q, k, v)]
            out = _attend(*leaves, cu, 14, scaling=None, dropout=0.0, kernel=kernel)
            out.float().square().sum().backward()
            outs.append([out.detach(), *(t.grad for t in leaves)])
        ok = all(torch.allclose(a.float(), b.float(), atol=2e-2, rtol=2e-2) for a, b in zip(*outs, strict=True))
    except Exception as err:  # any failure means: use the per-sample path
        log.warning("torch varlen attention unusable here (%s); padding-free text uses per-sample SDPA", err)
        return False
    if not ok:
        log.warning("torch varlen attention disagrees with SDPA here; padding-free text uses per-sample SDPA")
    return ok


@cache
def sdpa_takes_gqa() -> bool:
    q, kv = torch.zeros(1, 2, 1, 4), torch.zeros(1, 1, 1, 4)
    try:
        F.scaled_dot_product_attention(q, kv, kv, enable_gqa=True)  # torch >= 2.5
        return True
    except TypeError:
        return False


def _repeat_heads(x: torch.Tensor, groups: int, dim: int) -> torch.Tensor:
    return x if groups == 1 else x.repeat_interleave(groups, dim=dim)


@torch.compiler.disable  # data-dependent per-sample bounds: run eagerly inside a compiled block
def varlen_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """query [1, Hq, T, D], key/value [1, Hkv, T, D] → ([1, T, Hq, D], None), as transformers' SDPA returns."""
    cu = kwargs.get("cu_seq_lens_q")
    if cu is None:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs
        )
    longest = int(kwargs.get("max_length_q") or int((cu[1:] - cu[:-1]).max()))
    fast = query.is_cuda and query.dtype in (torch.bfloat16, torch.float16) and dropout == 0
    fast = fast and torch_varlen_works(query.device, query.dtype)
    return _attend(query, key, value, cu, longest, scaling=scaling, dropout=dropout, kernel=fast), None


def _attend(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    cu: torch.Tensor,
    longest: int,
    *,
    scaling: float | None,
    dropout: float,
    kernel: bool,
) -> torch.Tensor:
    """Causal attention inside each sample of the row: [1, Hq, T, D] → [1, T, Hq, D]."""
    groups = query.shape[1] // key.shape[1]
    if kernel:
        fn, causal, gqa = torch_varlen()  # type: ignore[misc]
        q, k, v = (t[0].transpose(0, 1) for t in (query, key, value))  # [T, H, D]
        if not gqa:
            k, v = _repeat_heads(k, groups, 1), _repeat_heads(v, groups, 1)
        extra = {"enable_gqa": True} if gqa and groups > 1 else {}
        cu = cu.to(query.device, torch.int32)
        return fn(q, k, v, cu, cu, longest, longest, scale=scaling, **causal, **extra).unsqueeze(0)
    gqa = groups > 1 and sdpa_takes_gqa()
    if groups > 1 and not gqa:
        key, value = _repeat_heads(key, groups, 1), _repeat_heads(value, groups, 1)
    bounds = getattr(cu, "_bounds", None)
    if bounds is None:  # one device-to-host copy per batch, not one per layer: every layer gets this tensor
        bounds = cu.tolist()
        cu._bounds = bounds  # type: ignore[attr-defined]
    outs = [
        F.scaled_dot_product_attention(
            query[:, :, s:e], key[:, :, s:e], value[:, :, s:e],
            dropout_p=dropout, is_causal=True, scale=scaling, **({"enable_gqa": True} if gqa else {}),
        )
        for s, e in itertools.pairwise(bounds)
    ]  # fmt: skip
    return torch.cat(outs, dim=2).transpose(1, 2).contiguous()
