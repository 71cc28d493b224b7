"""Column mapping, chat templates, splitting and batching of text datasets (in process, no training)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainer import data
from trainer.config import TextColumns, TextDataset
from trainer.errors import TrainerError


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path.parent


@pytest.mark.parametrize(
    ("row", "prompt", "completion"),
    [
        ({"text": "hello"}, "", "hello"),
        ({"prompt": "p", "response": "r"}, "p", "r"),
        ({"question": "q", "answer": "a"}, "q", "a"),
        ({"instruction": "i", "input": "x", "output": "o"}, "i\n\nx", "o"),
        ({"instruction": "i", "output": "o"}, "i", "o"),
    ],
)
def test_load_examples_detects_columns(tmp_path: Path, row: dict, prompt: str, completion: str) -> None:
    [ex] = data.load_examples(write(tmp_path / "d.jsonl", [row]), TextDataset())
    assert (ex.prompt, ex.completion) == (prompt, completion)


def test_load_examples_uses_explicit_columns(tmp_path: Path) -> None:
    cfg = TextDataset(columns=TextColumns(prompt="q", response="a"))
    [ex] = data.load_examples(write(tmp_path / "d.jsonl", [{"q": "1", "a": "2", "text": "no"}]), cfg)
    assert (ex.prompt, ex.completion) == ("1", "2")


def test_load_examples_reads_parquet_messages(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    pq.write_table(pa.table({"messages": [msgs]}), tmp_path / "d.parquet")
    [ex] = data.load_examples(tmp_path, TextDataset())
    assert ex.messages == msgs


def test_tokenize_masks_prompt_with_chat_template(tiny_llama: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama)
    ids, labels = data.tokenize(tok, data.Example("what does the cat say?", "meow"), 128)
    n_masked = sum(1 for t in labels if t == data.IGNORE)
    assert 0 < n_masked < len(ids)
    assert tok.decode(ids[n_masked:]).startswith("meow")


@pytest.mark.parametrize(
    ("files", "needle"),
    [
        ({}, "found no"),
        ({"d.jsonl": ""}, "no rows"),
        ({"d.jsonl": '{"text": "a"}\n{oops\n'}, "line 2"),
        ({"d.jsonl": '{"foo": "a"}\n'}, "'foo'"),
        ({"d.jsonl": '{"prompt": "a", "response": "b"}\n{"prompt": "a"}\n'}, "'response' is missing"),
        ({"d.parquet": "not parquet"}, "d.parquet"),
    ],
)
def test_load_examples_rejects_bad_data(tmp_path: Path, files: dict[str, str], needle: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(TrainerError) as err:
        data.load_examples(tmp_path, TextDataset())
    assert err.value.code == "dataset_invalid"
    assert needle in err.value.message


def test_split_is_deterministic_and_disjoint() -> None:
    a = data.split(50, 0.2, 7)
    assert a == data.split(50, 0.2, 7) and a != data.split(50, 0.2, 8)
    assert len(a[1]) == 10 and not set(a[0]) & set(a[1])
    assert data.split(1, 0.5, 0) == ([0], [])


def test_epoch_order_is_a_pure_function_of_seed_and_epoch() -> None:
    assert data.epoch_order(10, 3, 1, 0) == data.epoch_order(10, 3, 1, 0)
    assert data.epoch_order(10, 3, 1, 0) != data.epoch_order(10, 3, 1, 1)
    assert sorted(i for b in data.epoch_order(10, 3, 1, 0) for i in b) == list(range(10))
