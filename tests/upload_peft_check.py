"""Helpers for tests/upload_peft_test.ts. `prepare DIR`: a tiny Llama (trainer/tiny.py), a toy
dataset and a task.json for `python -m trainer run`. `load BASE ADAPTER REFERENCE`: loads the adapter files
downloaded from the local Hub with peft onto BASE and checks its LoRA weights equal the trainer's own
output in REFERENCE and that it changes the model's logits. Prints one JSON line."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def prepare(root: Path) -> None:
    from trainer.tests.conftest import text_task
    from trainer.tiny import build_tiny_llama, toy_rows

    model = build_tiny_llama(root / "model")
    ds = root / "ds"
    ds.mkdir(parents=True, exist_ok=True)
    (ds / "train.jsonl").write_text("\n".join(json.dumps(r) for r in toy_rows()) + "\n")
    task = text_task(model)
    task["task_id"] = "peft-1"
    (root / "task.json").write_text(json.dumps(task))
    print(json.dumps({"model": str(model), "dataset": str(ds), "task": task}))


def load(base: Path, adapter: Path, reference: Path) -> None:
    import torch
    from peft import PeftModel, get_peft_model_state_dict
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base)
    ids = torch.tensor([[1, 5, 9, 12, 20]])
    with torch.no_grad():
        before = model(ids).logits
    peft_model = PeftModel.from_pretrained(model, adapter)
    loaded = get_peft_model_state_dict(peft_model)
    want = load_file(reference / "adapter_model.safetensors")
    same = set(loaded) == set(want) and all(
        torch.equal(loaded[k], want[k]) for k in want
    )
    with torch.no_grad():
        after = peft_model(ids).logits
    print(
        json.dumps(
            {
                "tensors": len(want),
                "same": same,
                "changed": not torch.allclose(before, after),
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(Path(sys.argv[2]))
    else:
        load(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
