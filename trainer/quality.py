"""Local quality checks before anything is uploaded. Each returns the fields of a `quality` event."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

BLANK_STD = 0.01


def text_quality(base: float, adapter: float, min_improvement: float, eval_on_train: bool) -> dict[str, Any]:
    """Pass only if both eval losses are finite and adapter <= base * (1 - min_improvement)."""
    threshold = base * (1 - min_improvement) if math.isfinite(base) else math.inf
    finite = math.isfinite(base) and math.isfinite(adapter)
    passed = finite and adapter <= threshold
    where = "the train split (no eval split)" if eval_on_train else "the held-out split"
    detail = (
        f"eval loss on {where}: base {base:.4f}, adapter {adapter:.4f}, needed <= {threshold:.4f}"
        if finite
        else f"eval loss on {where} is not finite: base {base}, adapter {adapter}"
    )
    return {
        "passed": passed,
        "metric": "eval_loss",
        "base": base if math.isfinite(base) else None,
        "adapter": adapter if math.isfinite(adapter) else None,
        "threshold": threshold if math.isfinite(threshold) else 0.0,
        "detail": detail,
        "samples": [],
    }


def image_quality(
    base: list[np.ndarray], adapter: list[np.ndarray], min_difference: float, samples: list[str]
) -> dict[str, Any]:
    """Pass only if every image is finite and not blank, and the LoRA images differ from the base ones by at
    least `min_difference` mean absolute pixel difference (pixels in 0..1)."""
    problems = []
    for name, images in (("base", base), ("adapter", adapter)):
        for i, img in enumerate(images):
            if not np.isfinite(img).all():
                problems.append(f"{name} sample {i} has non-finite pixels")
            elif float(img.std()) < BLANK_STD:
                problems.append(f"{name} sample {i} is blank (pixel std {float(img.std()):.4f})")
    diffs = [
        float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean()) for a, b in zip(base, adapter, strict=True)
    ]
    diff = float(np.mean(diffs)) if diffs and math.isfinite(float(np.mean(diffs))) else None
    if diff is None or diff < min_difference:
        problems.append(f"LoRA samples differ from base by {diff} (< {min_difference})")
    detail = "; ".join(problems) if problems else f"mean abs pixel difference {diff:.4f} >= {min_difference}"
    return {
        "passed": not problems,
        "metric": "mean_abs_pixel_diff",
        "base": 0.0,
        "adapter": diff,
        "threshold": min_difference,
        "detail": detail,
        "samples": samples,
    }


def perplexity(loss: float) -> float | None:
    return math.exp(loss) if math.isfinite(loss) and loss < 700 else None
