"""Tiny models and toy datasets for tests and local mode, built from configs (nothing downloaded): a
Llama-style causal LM with a BPE tokenizer trained on the spot, a FLUX pipeline folder (transformer, VAE,
CLIP + T5 encoders, tokenizers), a prompt/response JSONL a few dozen steps learn, and captioned PNGs.

`python -m trainer tiny --kind text|image --out DIR` writes `DIR/model` and `DIR/dataset` and prints
`{"model": "...", "dataset": "..."}` as one JSON line on stdout (logs go to stderr)."""

from __future__ import annotations

import json
from pathlib import Path

LOCAL_INIT_STD = 0.3  # `tiny --kind text`: a wider init than the tests' (0.02) lets a LoRA on peft's default
# q_proj/v_proj targets move the logits, so a few dozen steps visibly learn (with 0.02 the random lm_head
# keeps every logit near 0 and the loss near ln(vocab) unless lm_head itself is adapted)
ANIMALS = {"cat": "meow meow", "dog": "woof woof", "bird": "tweet tweet", "cow": "moo moo"}
CAPTIONS = ("a red square", "a green stripe", "a blue box")

TOY_CORPUS = [
    "the cat sat on the mat",
    "the dog ran in the park",
    "a bird sang on the tree",
    "question: what is two plus two? answer: four",
    "hello world, this is a tiny model",
]

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{{ eos_token }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_tiny_llama(out: Path, hidden: int = 32, layers: int = 2, seed: int = 0, init_std: float = 0.02) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(TOY_CORPUS * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=False,
        initializer_range=init_std,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    return out


def build_tiny_flux(out: Path, seed: int = 0) -> Path:
    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, T5Config, T5EncoderModel, T5Tokenizer

    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        guidance_embeds=True,
        axes_dims_rope=(4, 4, 8),
    )
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in letters:
        vocab[ch] = len(vocab)
        vocab[ch + "</w>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    clip_config = CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=len(vocab),
        projection_dim=32,
        max_position_embeddings=77,
    )
    text_encoder = CLIPTextModel(clip_config)
    tokenizer_2 = T5Tokenizer(extra_ids=0, model_max_length=32)
    t5_config = T5Config(vocab_size=len(tokenizer_2) + 8, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4)
    text_encoder_2 = T5EncoderModel(t5_config)
    vae = AutoencoderKL(
        sample_size=32,
        in_channels=3,
        out_channels=3,
        block_out_channels=(4,),
        layers_per_block=1,
        latent_channels=1,
        norm_num_groups=1,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.0609,
        scaling_factor=1.5035,
    )
    pipe = FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
        transformer=transformer,
    )
    pipe.save_pretrained(out)
    return out


def toy_rows(n: int = 48) -> list[dict[str, str]]:
    """Prompt/response rows with one fixed answer per prompt: the tiny Llama learns them in ~30 steps."""
    names = list(ANIMALS)
    return [{"prompt": f"what does the {names[i % 4]} say?", "response": ANIMALS[names[i % 4]]} for i in range(n)]


def build_toy_text(out: Path, n: int = 48) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in toy_rows(n)))
    return out


def build_toy_images(out: Path, n: int = 6) -> Path:
    """`n` small PNGs (two aspect ratios, one colour per caption) with `.txt` caption sidecars."""
    import numpy as np
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a = np.zeros((32, 48 if i % 2 else 32, 3), np.uint8)
        a[:, :, i % 3] = 220
        a[::4] = 40
        Image.fromarray(a).save(out / f"img{i}.png")
        (out / f"img{i}.txt").write_text(CAPTIONS[i % 3])
    return out


def tiny_command(kind: str, out: Path) -> int:
    """`python -m trainer tiny`: build the model and dataset, print their paths as one JSON line."""
    from .events import claim_stdout, write_line

    claim_stdout()
    out = out.resolve()
    if kind == "text":
        model, dataset = build_tiny_llama(out / "model", init_std=LOCAL_INIT_STD), build_toy_text(out / "dataset")
    else:
        model, dataset = build_tiny_flux(out / "model"), build_toy_images(out / "dataset")
    write_line({"model": str(model), "dataset": str(dataset)})
    return 0
