"""The task's inputs onto a Ray node for `python -m trainer remote`: task.json, the dataset manifest
(core/manifest.ts) and each dataset file, checked against the manifest; files already there are kept."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from .errors import TrainerError
from .transfer import check_rel_path, get_bytes, get_file, hash_file, host_of, url_path

log = logging.getLogger("trainer.remote")

SHA256 = re.compile(r"^[0-9a-f]{64}$")
DOC_LIMIT = 64 * 1024 * 1024  # task.json, manifest.json


def parse_manifest(raw: Any) -> list[tuple[str, str, int]]:
    """(path, sha256, bytes) of each file of a DatasetManifest (core/manifest.ts); dataset_invalid otherwise."""

    def bad(why: str) -> TrainerError:
        return TrainerError("dataset_invalid", f"Cannot use the dataset manifest: {why}")

    if not isinstance(raw, dict) or raw.get("schema_version") != 1:
        raise bad("expected an object with schema_version 1")
    files = raw.get("files")
    if not isinstance(files, list) or not files:
        raise bad("files is not a non-empty list")
    out: list[tuple[str, str, int]] = []
    for i, f in enumerate(files):
        if not isinstance(f, dict):
            raise bad(f"files[{i}] is not an object")
        try:
            path = check_rel_path(f.get("path"))
        except ValueError as err:
            raise bad(f"files[{i}]: {err}") from None
        sha, size = f.get("sha256"), f.get("bytes")
        if not isinstance(sha, str) or not SHA256.match(sha):
            raise bad(f"files[{i}] ({path!r}): sha256 {sha!r} is not 64 lowercase hex digits")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise bad(f"files[{i}] ({path!r}): bytes {size!r} is not a non-negative integer")
        out.append((path, sha, size))
    paths = {p for p, _, _ in out}
    for p, _, _ in out:
        parent = p.rpartition("/")[0]
        while parent:
            if parent in paths:
                raise bad(f"{parent!r} is both a file and the folder of {p!r}")
            parent = parent.rpartition("/")[0]
    if len(paths) != len(out):
        raise bad("a path is listed twice")
    total = sum(size for _, _, size in out)
    if raw.get("total_bytes") != total:
        raise bad(f"total_bytes {raw.get('total_bytes')!r} differs from the files' sum {total}")
    return out


def prune(dataset: Path, keep: set[str]) -> None:
    """Leave in `dataset` only regular files the manifest lists: the trainer reads every file of the folder."""
    for root, dirs, names in os.walk(dataset, topdown=False):
        here = Path(root)
        for name in names + [d for d in dirs if (here / d).is_symlink()]:
            path = here / name
            if path.is_symlink() or path.relative_to(dataset).as_posix() not in keep:
                path.unlink()
        if here != dataset and not any(here.iterdir()):
            here.rmdir()


def fetch_inputs(fetch: str, folder: Path) -> None:
    """task.json and the dataset into `folder`, each dataset file checked against the manifest."""
    (folder / "task.json").write_bytes(get_bytes(fetch + "task.json", "task.json", DOC_LIMIT))
    raw = get_bytes(fetch + "manifest.json", "manifest.json", DOC_LIMIT)
    try:
        files = parse_manifest(json.loads(raw))
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
        raise TrainerError("dataset_invalid", f"Cannot parse manifest.json from {host_of(fetch)}: {err}") from None
    dataset, incoming = folder / "dataset", folder / ".incoming"
    dataset.mkdir(parents=True, exist_ok=True)
    incoming.mkdir(exist_ok=True)
    prune(dataset, {p for p, _, _ in files})
    for path, sha, size in files:
        dest = dataset / path
        if dest.is_file() and dest.stat().st_size == size and hash_file(dest) == (sha, size):
            log.info("dataset file %r is already here", path)
            continue
        part = incoming / "file.part"
        got = get_file(fetch + "dataset/" + url_path(path), f"dataset file {path!r}", part, size)
        if got != (sha, size):
            part.unlink()
            received = f"more than {size} bytes" if got[1] > size else f"{got[1]} bytes with sha256 {got[0]}"
            raise TrainerError(
                "dataset_invalid",
                f"Dataset file {path!r} does not match the manifest: received {received} "
                f"(expected {size} bytes with sha256 {sha})",
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, dest)
    incoming.rmdir()
    log.info("dataset ready: %d files, %d bytes", len(files), sum(s for _, _, s in files))
