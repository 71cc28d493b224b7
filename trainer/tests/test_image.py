"""FLUX image LoRA end to end on a tiny FLUX pipeline built from configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .conftest import image_task, run_trainer


def test_run_image_trains_samples_and_saves_a_loadable_lora(tmp_path: Path, tiny_flux: Path, toy_images: Path) -> None:
    run = run_trainer(tmp_path, image_task(tiny_flux), toy_images)
    assert run.rc == 0, run.stderr[-3000:]
    assert run.one("started")["kind"] == "image"
    assert len(run.by_type["progress"]) == 8 and len(run.by_type["eval"]) == 2
    quality = run.one("quality")
    assert quality["passed"] and quality["adapter"] >= 0.001
    assert sorted(quality["samples"]) == [
        "samples/base_0.png",
        "samples/base_1.png",
        "samples/lora_0.png",
        "samples/lora_1.png",
    ]
    done = run.one("done")
    paths = {a["path"] for a in done["artifacts"]}
    assert {"pytorch_lora_weights.safetensors", "pytorch_lora_weights_kohya.safetensors", "metrics.json"} <= paths
    assert set(quality["samples"]) <= paths

    from diffusers import FluxPipeline
    from safetensors.torch import load_file

    kohya = load_file(str(run.out / "pytorch_lora_weights_kohya.safetensors"))
    assert any(k.startswith("lora_transformer_transformer_blocks_0_attn_to_q.lora_down") for k in kohya)

    # load_lora_weights round trip: the reloaded LoRA reproduces the trainer's own LoRA sample.
    pipe = FluxPipeline.from_pretrained(tiny_flux)
    pipe.load_lora_weights(run.out, weight_name="pytorch_lora_weights.safetensors")
    image = pipe(
        "a red square",
        height=32,
        width=32,
        num_inference_steps=2,
        guidance_scale=3.5,
        max_sequence_length=32,
        generator=torch.Generator("cpu").manual_seed(0),
        output_type="np",
    ).images[0]
    saved = np.asarray(Image.open(run.out / "samples" / "lora_0.png"), dtype=np.float32) / 255
    assert np.abs(image - saved).max() < 2 / 255
    base = np.asarray(Image.open(run.out / "samples" / "base_0.png"), dtype=np.float32) / 255
    assert np.abs(base - saved).mean() >= 0.001


def test_run_image_metadata_dataset_with_buckets(tmp_path: Path, tiny_flux: Path, toy_images: Path) -> None:
    lines = [f'{{"file_name": "img{i}.png", "text": "a thing"}}' for i in range(6)]
    (toy_images / "metadata.jsonl").write_text("\n".join(lines))
    task = image_task(tiny_flux, max_steps=2, batch_size=2, checkpoint_every=0)
    task["dataset"] = {"format": "metadata", "caption_column": "text", "eval_fraction": 0}
    task["quality"]["min_difference"] = 0
    run = run_trainer(tmp_path, task, toy_images)
    assert run.rc == 0, run.stderr[-3000:]
    assert run.one("started")["eval_samples"] == 0
