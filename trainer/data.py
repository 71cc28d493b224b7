"""Text datasets: read JSONL / CSV / Parquet rows, map columns to training text, split train/eval by seed,
tokenize, then pad per batch, pack whole samples into blocks, or lay a batch out without padding. Every
problem with the data is a TrainerError("dataset_invalid") naming the file, line and column."""

from __future__ import annotations

import bisect
import csv
import itertools
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


def read_rows(dataset: Path, fmt: str) -> list[Block]:
    rows: list[Block] = []
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


def _read_jsonl(path: Path) -> list[Block]:
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


Segment = tuple[list[int], list[int]]  # one sample: token ids and labels (-100: not trained on)
Block = list[Segment]  # the samples that share one row of a batch (packing); a plain sample is a block of one


def pack(samples: list[Segment], block: int) -> list[Block]:
    """Whole samples into rows of at most `block` tokens, best fit by decreasing length (deterministic).
    A sample is never split, and each keeps its own position ids and attention (collate), so packing
    changes how many samples share a row, not what any of them sees."""
    order = sorted(range(len(samples)), key=lambda i: (-len(samples[i][0]), i))
    rows: list[Block] = []
    free: list[tuple[int, int]] = []  # (room left, row index), sorted
    for i in order:
        n = len(samples[i][0])
        at = bisect.bisect_left(free, (n, -1))
        if at == len(free):
            rows.append([samples[i]])
            room, row = block - n, len(rows) - 1
        else:
            room, row = free.pop(at)
            rows[row].append(samples[i])
            room -= n
        if room > 1:
            bisect.insort(free, (room, row))
    return rows


def _rows(batch: list[Segment] | list[Block]) -> list[Block]:
    return [[x] if isinstance(x, tuple) else x for x in batch]


def tokens_in(batch: list[Segment] | list[Block]) -> int:
    """Real tokens of a micro-batch (no padding)."""
    return sum(len(seg[0]) for row in _rows(batch) for seg in row)


def _segment_labels(row: list[Segment]) -> list[int]:
    """The row's labels, with each sample's first token not trained on: in a padded batch nothing predicts a
    sample's first token, and in a shared row the one before it belongs to another sample."""
    out: list[int] = []
    for ids, labels in row:
        out += [IGNORE, *labels[1 : len(ids)]] if out else labels[: len(ids)]
    return out


def collate(batch: list[Segment] | list[Block], pad_id: int) -> dict[str, torch.Tensor]:
    """A padded batch. One sample per row: an attention mask marks the padding. Packed rows: position ids
    restart at each sample (and the padding tail is a sample of its own), from which transformers builds a
    block-causal mask, so no sample attends to another."""
    rows = _rows(batch)
    width = max(sum(len(s[0]) for s in row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    packed = any(len(row) > 1 for row in rows)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        flat = [t for seg in row for t in seg[0]]
        ids[i, : len(flat)] = torch.tensor(flat)
        lab = _segment_labels(row)
        labels[i, : len(lab)] = torch.tensor(lab)
        mask[i, : len(flat)] = 1
        positions[i] = torch.cat([torch.arange(n) for n in [len(s[0]) for s in row] + [width - len(flat)]])
    if packed:
        return {"input_ids": ids, "position_ids": positions, "labels": labels}
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def collate_flat(batch: list[Segment] | list[Block]) -> dict[str, Any]:
    """The padding-free batch: every sample of the micro-batch in one row, with its own position ids and its
    bounds as `cu_seq_lens` (what flash-attn's varlen kernels and trainer/attention.py read), so attention
    stays inside each sample and no compute goes to padding. The loss equals the padded batch's."""
    segs = [seg for row in _rows(batch) for seg in row]
    lengths = [len(ids) for ids, _ in segs]
    ids = torch.tensor([[t for s in segs for t in s[0]]], dtype=torch.long)
    labels = torch.tensor([_segment_labels(segs)], dtype=torch.long)
    positions = torch.cat([torch.arange(n) for n in lengths])[None]
    cu = torch.tensor([0, *itertools.accumulate(lengths)], dtype=torch.int32)
    longest = max(lengths)
    return {
        "input_ids": ids,
        "labels": labels,
        "position_ids": positions,
        "cu_seq_lens_q": cu,
        "cu_seq_lens_k": cu,
        "max_length_q": longest,
        "max_length_k": longest,
    }


def epoch_order(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Batches of sample indices for one epoch, shuffled by (seed, epoch): the same order after a resume."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=gen).tolist()
    return [perm[i : i + batch_size] for i in range(0, n, batch_size)]
