"""Text datasets: read JSONL / CSV / Parquet rows, map columns to training text, split train/eval by seed,
tokenize, then pad per batch or pack into full blocks. Every problem with the data is a
TrainerError("dataset_invalid") naming the file, line and column."""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .config import TextColumns, TextDataset
from .errors import TrainerError

EXTENSIONS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}
IGNORE = -100


@dataclass
class Row:
    file: str
    line: int
    values: dict[str, Any]


@dataclass
class Example:
    """A training sample: `prompt` (not trained on, may be empty) then `completion` (trained on)."""

    prompt: str
    completion: str
    messages: list[dict[str, str]] | None = None


def bad(message: str) -> TrainerError:
    return TrainerError("dataset_invalid", message)


def find_files(dataset: Path, fmt: str) -> list[tuple[Path, str]]:
    if not dataset.exists():
        raise bad(f"Cannot read dataset {str(dataset)!r}: no such file or directory")
    candidates = [dataset] if dataset.is_file() else sorted(p for p in dataset.rglob("*") if p.is_file())
    files = [(p, EXTENSIONS[p.suffix.lower()]) for p in candidates if p.suffix.lower() in EXTENSIONS]
    if fmt != "auto":
        files = [(p, f) for p, f in files if f == fmt]
    if not files:
        wanted = "a .jsonl, .csv or .parquet file" if fmt == "auto" else f"a {fmt} file"
        raise bad(f"Cannot read dataset {str(dataset)!r}: found no {wanted}")
    return files


def read_rows(dataset: Path, fmt: str) -> list[Row]:
    rows: list[Row] = []
    for path, kind in find_files(dataset, fmt):
        try:
            if kind == "jsonl":
                rows.extend(_read_jsonl(path))
            elif kind == "csv":
                with path.open(newline="", encoding="utf-8") as fh:
                    rows.extend(Row(path.name, i + 2, dict(r)) for i, r in enumerate(csv.DictReader(fh)))
            else:
                import pyarrow.parquet as pq

                table = pq.read_table(path)
                rows.extend(Row(path.name, i + 1, r) for i, r in enumerate(table.to_pylist()))
        except TrainerError:
            raise
        except Exception as err:
            raise bad(f"Cannot read {kind} file {path.name!r}: {err}") from err
    if not rows:
        raise bad(f"Cannot train on dataset {str(dataset)!r}: it has no rows")
    return rows


def _read_jsonl(path: Path) -> list[Row]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                raise bad(f"Cannot parse {path.name!r} line {number}: {err.msg}") from err
            if not isinstance(value, dict):
                raise bad(f"Cannot use {path.name!r} line {number}: expected a JSON object")
            rows.append(Row(path.name, number, value))
    return rows


DETECT = [
    ("messages", ("messages",)),
    ("messages", ("conversations",)),
    ("instruction", ("instruction", "output")),
    ("prompt", ("prompt", "response")),
    ("prompt", ("prompt", "completion")),
    ("prompt", ("question", "answer")),
    ("text", ("text",)),
    ("text", ("content",)),
]


def resolve_columns(columns: TextColumns, first: Row) -> tuple[str, dict[str, str | None]]:
    """(mode, column names) from the spec, else detected from the first row's keys."""
    c = columns
    if c.messages:
        return "messages", {"messages": c.messages}
    if c.instruction or c.output:
        return "instruction", {
            "instruction": c.instruction or "instruction",
            "input": c.input,
            "output": c.output or "output",
        }
    if c.prompt or c.response:
        return "prompt", {"prompt": c.prompt or "prompt", "response": c.response or "response"}
    if c.text:
        return "text", {"text": c.text}
    keys = set(first.values)
    for mode, needed in DETECT:
        if set(needed) <= keys:
            if mode == "messages":
                return mode, {"messages": needed[0]}
            if mode == "instruction":
                return mode, {
                    "instruction": "instruction",
                    "input": "input" if "input" in keys else None,
                    "output": "output",
                }
            if mode == "prompt":
                return mode, {"prompt": needed[0], "response": needed[1]}
            return mode, {"text": needed[0]}
    raise bad(
        f"Cannot find training columns in {first.file!r}: found {sorted(keys)}, expected text, prompt+response, "
        "instruction+output or messages (or set dataset.columns)"
    )


def _get(row: Row, column: str, optional: bool = False) -> str:
    if column not in row.values or row.values[column] is None:
        if optional:
            return ""
        raise bad(f"Cannot read {row.file!r} line {row.line}: column {column!r} is missing")
    value = row.values[column]
    if not isinstance(value, str):
        raise bad(f"Cannot read {row.file!r} line {row.line}: column {column!r} is not a string")
    return value


def to_example(row: Row, mode: str, cols: dict[str, str | None]) -> Example:
    if mode == "text":
        return Example("", _get(row, cols["text"] or "text"))
    if mode == "prompt":
        return Example(_get(row, cols["prompt"] or "prompt"), _get(row, cols["response"] or "response"))
    if mode == "instruction":
        instruction = _get(row, cols["instruction"] or "instruction")
        extra = _get(row, cols["input"], optional=True) if cols["input"] else ""
        prompt = f"{instruction}\n\n{extra}" if extra else instruction
        return Example(prompt, _get(row, cols["output"] or "output"))
    column = cols["messages"] or "messages"
    msgs = row.values.get(column)
    if isinstance(msgs, str):
        try:
            msgs = json.loads(msgs)
        except json.JSONDecodeError:
            msgs = None
    ok = (
        isinstance(msgs, list)
        and msgs
        and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in msgs
        )
    )
    if not ok:
        raise bad(f"Cannot read {row.file!r} line {row.line}: column {column!r} is not a list of {{role, content}}")
    return Example("", "", messages=[{"role": m["role"], "content": m["content"]} for m in msgs])


def load_examples(dataset: Path, cfg: TextDataset) -> list[Example]:
    rows = read_rows(dataset, cfg.format)
    mode, cols = resolve_columns(cfg.columns, rows[0])
    examples = [to_example(r, mode, cols) for r in rows]
    if not any((e.completion.strip() or e.messages) for e in examples):
        raise bad(f"Cannot train on dataset {str(dataset)!r}: every sample is empty")
    return examples


def split(n: int, eval_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Deterministic train/eval index split; eval is empty when the fraction or the data is too small."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_eval = round(n * eval_fraction) if n >= 2 else 0
    n_eval = min(max(n_eval, 1 if eval_fraction > 0 and n >= 2 else 0), n - 1)
    return sorted(order[n_eval:]), sorted(order[:n_eval])


def tokenize(tokenizer: Any, ex: Example, max_len: int) -> tuple[list[int], list[int]]:
    """Token ids and labels (prompt tokens masked with -100), truncated to max_len."""
    template = getattr(tokenizer, "chat_template", None)
    eos = tokenizer.eos_token_id
    if ex.messages is not None or (ex.prompt and template):
        msgs = ex.messages or [{"role": "user", "content": ex.prompt}, {"role": "assistant", "content": ex.completion}]
        if template:
            full = _ids(tokenizer.apply_chat_template(msgs, tokenize=True))
            head = _ids(tokenizer.apply_chat_template(msgs[:-1], tokenize=True, add_generation_prompt=True))
            n_prompt = len(head) if ex.messages is None and full[: len(head)] == head else 0
        else:
            full = tokenizer("\n".join(f"{m['role']}: {m['content']}" for m in msgs))["input_ids"] + [eos]
            n_prompt = 0
    else:
        head = tokenizer(ex.prompt + "\n")["input_ids"] if ex.prompt else []
        tail = tokenizer(ex.completion, add_special_tokens=not head)["input_ids"]
        full = head + tail + ([eos] if eos is not None else [])
        n_prompt = len(head)
    full = full[:max_len]
    labels = [IGNORE] * min(n_prompt, len(full)) + full[n_prompt:]
    return full, labels


def _ids(value: Any) -> list[int]:
    if isinstance(value, dict) or hasattr(value, "keys"):
        value = value["input_ids"]
    return list(value)


def pack(samples: list[tuple[list[int], list[int]]], block: int) -> list[tuple[list[int], list[int]]]:
    ids = [t for s in samples for t in s[0]]
    labels = [t for s in samples for t in s[1]]
    out = [(ids[i : i + block], labels[i : i + block]) for i in range(0, len(ids), block)]
    return [s for s in out if len(s[0]) >= 2]


def collate(samples: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(s[0]) for s in samples)
    ids = torch.full((len(samples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(samples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(samples), width), dtype=torch.long)
    for i, (a, b) in enumerate(samples):
        ids[i, : len(a)] = torch.tensor(a)
        labels[i, : len(b)] = torch.tensor(b)
        mask[i, : len(a)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def epoch_order(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Batches of sample indices for one epoch, shuffled by (seed, epoch): the same order after a resume."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=gen).tolist()
    return [perm[i : i + batch_size] for i in range(0, n, batch_size)]
