"""Image datasets: a folder of images with `.txt` caption sidecars, or a `metadata.jsonl` with `file_name`
and a caption column. Images are checked on read and assigned to aspect-ratio buckets of about
resolution² pixels. Problems are TrainerError("dataset_invalid") naming the file and line."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .config import ImageDataset
from .data import bad

log = logging.getLogger("trainer")
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
ASPECTS = (1.0, 4 / 3, 3 / 4, 3 / 2, 2 / 3, 16 / 9, 9 / 16)
MULTIPLE = 16


@dataclass
class ImageItem:
    path: Path
    caption: str


def list_items(dataset: Path, cfg: ImageDataset) -> list[ImageItem]:
    if not dataset.is_dir():
        raise bad(f"Cannot read image dataset {str(dataset)!r}: not a directory")
    meta = dataset / "metadata.jsonl"
    fmt = cfg.format if cfg.format != "auto" else ("metadata" if meta.is_file() else "folder")
    items = _from_metadata(dataset, meta, cfg.caption_column) if fmt == "metadata" else _from_folder(dataset)
    if not items:
        raise bad(f"Cannot train on image dataset {str(dataset)!r}: it has no images")
    return items


def _from_folder(dataset: Path) -> list[ImageItem]:
    items = []
    for path in sorted(p for p in dataset.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS):
        sidecar = path.with_suffix(".txt")
        if sidecar.is_file():
            caption = sidecar.read_text(encoding="utf-8").strip()
        else:
            log.warning("no caption sidecar for %s: training with an empty caption", path.name)
            caption = ""
        items.append(ImageItem(path, caption))
    return items


def _from_metadata(dataset: Path, meta: Path, column: str) -> list[ImageItem]:
    if not meta.is_file():
        raise bad(f"Cannot read image dataset {str(dataset)!r}: metadata.jsonl is missing")
    items = []
    for number, line in enumerate(meta.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise bad(f"Cannot parse 'metadata.jsonl' line {number}: {err.msg}") from err
        if not isinstance(row, dict) or not isinstance(row.get("file_name"), str):
            raise bad(f"Cannot read 'metadata.jsonl' line {number}: column 'file_name' is missing")
        if not isinstance(row.get(column), str):
            raise bad(f"Cannot read 'metadata.jsonl' line {number}: column {column!r} is missing or not a string")
        path = dataset / row["file_name"]
        if not path.is_file():
            raise bad(f"Cannot read 'metadata.jsonl' line {number}: image {row['file_name']!r} does not exist")
        items.append(ImageItem(path, row[column]))
    return items


def buckets(resolution: int) -> list[tuple[int, int]]:
    """(height, width) buckets with about resolution² pixels, sides multiples of 16."""
    out = []
    for aspect in ASPECTS:
        h = max(MULTIPLE, round(resolution / math.sqrt(aspect) / MULTIPLE) * MULTIPLE)
        w = max(MULTIPLE, round(resolution * math.sqrt(aspect) / MULTIPLE) * MULTIPLE)
        if (h, w) not in out:
            out.append((h, w))
    return out


def nearest_bucket(size: tuple[int, int], options: list[tuple[int, int]]) -> tuple[int, int]:
    w, h = size
    ratio = math.log(w / h)
    return min(options, key=lambda b: abs(math.log(b[1] / b[0]) - ratio))


def load_pixels(item: ImageItem, options: list[tuple[int, int]]) -> torch.Tensor:
    """The image resized to cover its bucket and center-cropped, as a (3, H, W) tensor in [-1, 1]."""
    from PIL import Image, ImageOps

    try:
        with Image.open(item.path) as img:
            img.load()
            rgb = ImageOps.exif_transpose(img).convert("RGB")
    except Exception as err:
        raise bad(f"Cannot read image {item.path.name!r}: {err}") from err
    h, w = nearest_bucket(rgb.size, options)
    scale = max(w / rgb.width, h / rgb.height)
    resized = rgb.resize(
        (max(w, round(rgb.width * scale)), max(h, round(rgb.height * scale))), Image.Resampling.BICUBIC
    )
    left, top = (resized.width - w) // 2, (resized.height - h) // 2
    cropped = resized.crop((left, top, left + w, top + h))
    array = np.asarray(cropped, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def bucket_order(shapes: list[tuple[int, int]], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Batches of same-bucket indices for one epoch, shuffled by (seed, epoch)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    groups: dict[tuple[int, int], list[int]] = {}
    for i in torch.randperm(len(shapes), generator=gen).tolist():
        groups.setdefault(shapes[i], []).append(i)
    batches = [g[i : i + batch_size] for _, g in sorted(groups.items()) for i in range(0, len(g), batch_size)]
    perm = torch.randperm(len(batches), generator=gen).tolist()
    return [batches[i] for i in perm]


def batches_per_epoch(shapes: list[tuple[int, int]], batch_size: int) -> int:
    counts: dict[tuple[int, int], int] = {}
    for s in shapes:
        counts[s] = counts.get(s, 0) + 1
    return sum(math.ceil(c / batch_size) for c in counts.values())
