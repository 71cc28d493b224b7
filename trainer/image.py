"""FLUX image LoRA with diffusers + peft, following diffusers' train_dreambooth_lora_flux; the run's skeleton
is session.py. Latents and text embeddings are cached once, the text encoders are then freed and the VAE
moved off the GPU; the LoRA sits on the transformer's attention projections and learns the flow-matching
target (noise - latents) on packed latents (flux_step.py). The memory mode (quantization nf4/fp8,
checkpointing) is chosen from the card (modes.py) before the transformer loads; with
`speed.merge_micro_batches` an accumulation step's micro-batches run as one forward pass when memory allows.
Rank 0 alone samples the quality prompts and saves the LoRA."""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import Any, ClassVar

import torch

from . import data, image_data, modes
from .cancel import Cancel
from .config import ImageHyperparameters, ImageTrainingSpec
from .errors import TrainerError
from .flux_lora import TARGETS, blocks, kohya_state_dict, prepare_transformer, quantization_config
from .flux_step import FlowSetup, merged_loss, per_sample_loss
from .loop import LoopResult
from .output import Staging
from .parallel import Parallel
from .quality import image_quality
from .session import Session

log = logging.getLogger("trainer")
LORA_FILE = "pytorch_lora_weights.safetensors"
KOHYA_FILE = "pytorch_lora_weights_kohya.safetensors"
FINAL = (LORA_FILE, KOHYA_FILE, "metrics.json", "training_args.json")
EVAL_SIGMAS = (0.25, 0.5, 0.75)


class ImageSession(Session):
    """`model` is the FLUX transformer carrying the LoRA adapter."""

    kind: ClassVar[str] = "image"
    final_files: ClassVar[tuple[str, ...]] = FINAL
    spec: ImageTrainingSpec
    hp: ImageHyperparameters

    def __init__(self, spec: ImageTrainingSpec, dataset: Path, out: Path, par: Parallel | None = None) -> None:
        super().__init__(spec, dataset, out, par)
        quantization_config(self.hp.quantization, self.device, self.dtype)  # refuse an impossible ask before loading

    # ---- caching -----------------------------------------------------------------------------------------
    def load(self) -> None:
        hp = self.hp
        items = image_data.list_items(self.dataset, self.spec.dataset)
        options = image_data.buckets(hp.resolution)
        pixels = [image_data.load_pixels(item, options) for item in items]
        train_idx, eval_idx = data.split(len(items), self.spec.dataset.eval_fraction, hp.seed)
        self._cache(items, pixels)
        self.train_items = [self.cached[i] for i in train_idx]
        self.eval_items = [self.cached[i] for i in eval_idx]
        self.shapes = [tuple(c["mean"].shape[-2:]) for c in self.train_items]
        self.batches_per_epoch = image_data.batches_per_epoch(self.shapes, hp.batch_size)
        self._load_transformer()
        self.setup = FlowSetup(
            model=self.model, sigmas=self.scheduler.sigmas, timesteps=self.scheduler.timesteps,
            num_train_timesteps=self.scheduler.config.num_train_timesteps,
            shift_factor=self.vae.config.shift_factor, scaling_factor=self.vae.config.scaling_factor,
            vae_scale_factor=self.vae_scale_factor, guidance_scale=hp.guidance_scale,
            device=self.device, dtype=self.dtype, seed=hp.seed,
        )  # fmt: skip

    @property
    def train_count(self) -> int:
        return len(self.train_items)

    @property
    def eval_count(self) -> int:
        return len(self.eval_items)

    def _cache(self, items: list[image_data.ImageItem], pixels: list[torch.Tensor]) -> None:
        from diffusers import FluxPipeline

        try:
            pipe = FluxPipeline.from_pretrained(self.spec.base_model, transformer=None, dtype=self.dtype)
        except (OSError, ValueError) as err:
            raise TrainerError("model_not_found", f"Cannot load base model {self.spec.base_model!r}: {err}") from err
        pipe.to(self.device)
        self.max_seq = min(512, int(getattr(pipe.tokenizer_2, "model_max_length", 512) or 512))
        self.vae_scale_factor = pipe.vae_scale_factor
        self.scheduler = pipe.scheduler
        self.vae = pipe.vae
        embeds: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        with torch.no_grad():
            for text in {*(i.caption for i in items), *self.spec.quality.prompts}:
                pe, pooled, ids = pipe.encode_prompt(
                    prompt=text, prompt_2=None, device=self.device, max_sequence_length=self.max_seq
                )
                embeds[text] = (pe.cpu(), pooled.cpu(), ids.cpu())
            self.cached = []
            for item, px in zip(items, pixels, strict=True):
                dist = self.vae.encode(px[None].to(self.device, self.vae.dtype)).latent_dist
                self.cached.append(
                    {"mean": dist.mean[0].cpu(), "std": dist.std[0].cpu(), "embeds": embeds[item.caption]}
                )
        self.prompt_embeds = [embeds[p] for p in self.spec.quality.prompts]
        pipe.text_encoder = pipe.text_encoder_2 = None
        del pipe
        self.vae.to("cpu")
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _load_transformer(self) -> None:
        from diffusers import FluxTransformer2DModel
        from peft import LoraConfig

        hp = self.hp
        choice = self.choose_mode(self._workload(), hp.quantization, merge=hp.speed.merge_micro_batches)
        self.per_forward = choice.per_forward
        quant = quantization_config(choice.mode.quantization, self.device, self.dtype)
        try:
            model = FluxTransformer2DModel.from_pretrained(
                self.spec.base_model, subfolder="transformer", dtype=self.dtype, quantization_config=quant
            )
        except (OSError, ValueError) as err:
            raise TrainerError(
                "model_not_found", f"Cannot load FLUX transformer of {self.spec.base_model!r}: {err}"
            ) from err
        lora = LoraConfig(
            r=hp.rank,
            lora_alpha=hp.alpha,
            lora_dropout=hp.dropout,
            init_lora_weights="gaussian",
            target_modules=hp.target_modules or TARGETS,
        )
        self.model = prepare_transformer(
            model, quantization=choice.mode.quantization, checkpointing=choice.mode.checkpointing, lora=lora,
            device=self.device, dtype=self.dtype, attention=self.attention,
        )  # fmt: skip

    def _workload(self) -> modes.Workload:
        """The transformer's size from its config (no weights loaded) and the task's tokens per micro-batch."""
        from accelerate import init_empty_weights
        from diffusers import FluxTransformer2DModel

        hp = self.hp
        try:
            config = FluxTransformer2DModel.load_config(self.spec.base_model, subfolder="transformer")
            with init_empty_weights():
                params = sum(p.numel() for p in FluxTransformer2DModel.from_config(config).parameters())
        except (OSError, ValueError) as err:
            raise TrainerError(
                "model_not_found", f"Cannot load FLUX transformer config of {self.spec.base_model!r}: {err}"
            ) from err
        tokens = modes.tokens_of("image", hp.batch_size, resolution=hp.resolution)
        return modes.Workload("image", params / 1e9, tokens, hp.rank, self.precision)

    def compile_targets(self) -> list[torch.nn.Module]:
        return blocks(self.model)

    # ---- flow matching -----------------------------------------------------------------------------------
    def flow_loss(
        self, items: list[dict[str, Any]], noise: torch.Tensor | None = None, sigma: float | None = None
    ) -> torch.Tensor:
        return per_sample_loss(self.setup, items, noise, sigma).mean()

    def epoch_order(self, epoch: int) -> list[list[int]]:
        return image_data.bucket_order(self.shapes, self.hp.batch_size, self.hp.seed, epoch)

    def micro_step(self, indices: list[int]) -> tuple[torch.Tensor, int, int | None]:
        batches = [[self.train_items[i] for i in self.batch_indices(index)] for index in indices]
        return merged_loss(self.setup, batches), sum(len(b) for b in batches), None

    # ---- evaluation and results --------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> float | None:
        """Flow-matching loss on the eval split at fixed sigmas and noise (None without an eval split)."""
        if not self.eval_items:
            return None
        self.model.eval()
        losses = [float(self.flow_loss([c], sigma=s)) for c in self.eval_items for s in EVAL_SIGMAS]
        self.model.train()
        return sum(losses) / len(losses)

    def evaluate_base(self) -> float | None:
        if not self.eval_items:
            return None
        self.model.disable_adapters()
        try:
            return self.evaluate()
        finally:
            self.model.enable_adapters()

    @torch.no_grad()
    def sample(self, staging: Staging) -> tuple[list[Any], list[Any], list[str]]:
        from diffusers import FluxPipeline
        from PIL import Image

        q = self.spec.quality
        self.model.eval()
        self.vae.to(self.device)
        pipe = FluxPipeline(
            scheduler=self.scheduler, vae=self.vae, text_encoder=None, tokenizer=None,
            text_encoder_2=None, tokenizer_2=None, transformer=self.model,
        )  # fmt: skip
        pipe.set_progress_bar_config(disable=True)
        side = image_data.buckets(self.hp.resolution)[0][0]
        (staging.dir / "samples").mkdir(exist_ok=True)
        images: dict[str, list[Any]] = {"base": [], "lora": []}
        names = []
        for label in ("base", "lora"):
            (self.model.disable_adapters if label == "base" else self.model.enable_adapters)()
            for i, (pe, pooled, _) in enumerate(self.prompt_embeds):
                img = pipe(
                    prompt_embeds=pe.to(self.device, self.dtype),
                    pooled_prompt_embeds=pooled.to(self.device, self.dtype),
                    height=side, width=side, num_inference_steps=q.num_inference_steps,
                    guidance_scale=self.hp.guidance_scale, max_sequence_length=self.max_seq,
                    generator=torch.Generator(device="cpu").manual_seed(q.seed), output_type="np",
                ).images[0]  # fmt: skip
                images[label].append(img)
                name = f"samples/{label}_{i}.png"
                safe = (img.clip(0, 1) * 255).round().astype("uint8") if img.size else img
                Image.fromarray(safe).save(staging.dir / name)
                names.append(name)
        self.model.enable_adapters()
        return images["base"], images["lora"], names

    def check_quality(self, staging: Staging, adapter_eval: float | None) -> tuple[dict[str, Any], list[str]]:
        base_imgs, lora_imgs, samples = self.sample(staging)
        return image_quality(base_imgs, lora_imgs, self.spec.quality.min_difference, samples), samples

    def save_adapter(self, staging: Staging) -> None:
        from diffusers import FluxPipeline
        from peft import get_peft_model_state_dict
        from safetensors.torch import save_file

        lora = {k: v.detach().cpu() for k, v in get_peft_model_state_dict(self.model).items()}
        FluxPipeline.save_lora_weights(staging.dir, transformer_lora_layers=lora, weight_name=LORA_FILE)
        meta = {
            "ss_network_dim": str(self.hp.rank),
            "ss_network_alpha": str(self.hp.alpha),
            "ss_base_model": self.spec.base_model,
        }
        save_file(kohya_state_dict(lora, self.hp.alpha), str(staging.dir / KOHYA_FILE), metadata=meta)

    def kind_metrics(self, result: LoopResult, adapter_eval: float | None, quality: dict[str, Any]) -> dict[str, Any]:
        return {"quality_mean_abs_pixel_diff": quality["adapter"], "quantization": self.choice.mode.quantization}

    def resolved_args(self) -> dict[str, Any]:
        return {
            "target_modules": self.hp.target_modules or TARGETS,
            "buckets": image_data.buckets(self.hp.resolution),
            "max_sequence_length": self.max_seq,
            "timestep_sampling": "uniform (weighting_scheme none)",
        }

    def library_versions(self) -> dict[str, str]:
        import diffusers

        return {"diffusers": diffusers.__version__}


def run_image(spec: ImageTrainingSpec, dataset: Path, out: Path, resume: bool, cancel: Cancel, par: Parallel) -> None:
    ImageSession(spec, dataset, out, par).run(resume, cancel)
