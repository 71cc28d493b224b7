"""The base-model cache: `python -m trainer prefetch --cache-dir DIR --model ID [--model ID ...]`.

Downloads each model into the Hugging Face cache layout (`models--org--name/{blobs,snapshots,refs}`), the
layout `from_pretrained` reads with `HF_HUB_CACHE=DIR`, so every trainer shares one copy. Built on
`huggingface_hub`, the official client: `model_info(files_metadata=True)` lists the files with their
sizes and the Hub's sha256 of each LFS file, `get_hf_file_metadata` (HEAD) gives the blob's etag and
where to fetch it, and `http_get` fetches it. Two things the client leaves to us since 2.x:
- resume across processes: a blob in progress lives at `blobs/<etag>.incomplete` (the name earlier
  clients used) and a later run continues it with a Range request, so a killed prefetch loses nothing;
- verification: a finished blob is hashed before it takes its final name: sha256 for LFS files (the
  Hub's `lfs.sha256`, which is also its etag), the git blob id for the others. A mismatch is discarded
  and fetched once more from the start; a second mismatch fails with `checksum`.
The finished blob is then linked into the snapshot by `hf_hub_download` itself, which finds it in place.

stdout: one JSON object per line, `PREFETCH_FIELDS` below (mirror of `PrefetchEvent` in
core/model_cache.ts). Exit status 0 when every model is cached, 1 otherwise.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import IO, Any

PREFETCH_FIELDS: dict[str, tuple[str, ...]] = {
    "prefetch_start": ("model", "revision", "commit", "files", "total_bytes", "cached_bytes"),
    "prefetch_progress": ("model", "done_bytes", "total_bytes"),
    "prefetch_done": ("model", "commit", "total_bytes", "path", "checked"),
    "prefetch_error": ("model", "code", "message"),
}
PROGRESS_EVERY_S = 0.5
CHUNK = 1024 * 1024
# `http_get` writes what it read every DOWNLOAD_CHUNK_SIZE bytes (10 MiB by default): the most a kill loses.
RESUME_CHUNK = 1024 * 1024


class PrefetchError(Exception):
    """An expected failure of one model: a stable code (see PrefetchErrorCode in core/model_cache.ts)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def emit(event: str, out: IO[str] = sys.stdout, **fields: Any) -> None:
    if tuple(fields) != PREFETCH_FIELDS[event]:
        raise ValueError(f"event {event!r} needs fields {PREFETCH_FIELDS[event]}, got {tuple(fields)}")
    out.write(json.dumps({"event": event, "time": time.time(), **fields}) + "\n")
    out.flush()


class Counting:
    """The file `http_get` writes to, counting bytes for throttled progress events."""

    def __init__(self, f: IO[bytes], on_bytes: Any) -> None:
        self.f, self.on_bytes = f, on_bytes

    def write(self, b: bytes) -> int:
        n = self.f.write(b)
        self.on_bytes()
        return n

    def __getattr__(self, name: str) -> Any:  # seek, tell, truncate, flush: the real file's
        return getattr(self.f, name)


WEIGHTS = (".safetensors", ".bin", ".pth", ".pt", ".ckpt", ".h5", ".msgpack", ".onnx", ".gguf")


def wanted(names: list[str]) -> set[str]:
    """The files `from_pretrained` reads, of a repo's: with safetensors weights present, no other weight
    formats (pytorch .bin, Flax, ONNX, GGUF, Meta's `original/` checkpoints); in a diffusers repo (with
    `model_index.json`), no single-file checkpoint at the root (FLUX.1-dev's 24 GB flux1-dev.safetensors)."""
    has_safetensors = any(n.endswith(".safetensors") for n in names)
    diffusers = "model_index.json" in names

    def keep(n: str) -> bool:
        if n.startswith("original/") and has_safetensors:
            return False
        if diffusers and "/" not in n and n.endswith(WEIGHTS):
            return False
        return not (has_safetensors and n.endswith(WEIGHTS) and not n.endswith(".safetensors"))

    return {n for n in names if keep(n)}


def file_digest(path: Path, lfs: bool) -> str:
    """sha256 of an LFS file; the git blob id (sha1 of `blob <size>\\0` + bytes) of a regular one."""
    h = hashlib.sha256() if lfs else hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def error_of(err: BaseException, model: str) -> PrefetchError:
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(err, PrefetchError):
        return err
    if isinstance(err, GatedRepoError):
        return PrefetchError("gated", f"{model} is gated: accept its license on the Hub with the token's account")
    if isinstance(err, (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError)):
        return PrefetchError("not_found", f"{model} not found on the Hub, or the token cannot see it")
    if isinstance(err, OfflineModeIsEnabled):
        return PrefetchError("offline", "HF_HUB_OFFLINE is set")
    if isinstance(err, HfHubHTTPError):
        status = err.response.status_code if err.response is not None else 0
        code = "unauthorized" if status == 401 else "network"
        return PrefetchError(code, f"the Hub answered {status} for {model}")
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return PrefetchError("disk_full", f"no space left on the cache disk while fetching {model}")
    if isinstance(err, (OSError, TimeoutError)) or type(err).__module__.startswith("httpx"):
        return PrefetchError("network", f"{type(err).__name__}: {err}")
    return PrefetchError("internal", f"{type(err).__name__}: {err}")


class Prefetch:
    def __init__(self, cache_dir: Path, endpoint: str | None, token: str | None, out: IO[str]) -> None:
        from huggingface_hub import HfApi

        self.cache_dir, self.endpoint, self.token, self.out = cache_dir, endpoint, token, out
        self.plan_only = False
        self.api = HfApi(endpoint=endpoint, token=token)

    def model(self, model: str, revision: str) -> None:
        from huggingface_hub.file_download import repo_folder_name

        storage = self.cache_dir / repo_folder_name(repo_id=model, repo_type="model")
        try:
            info = self.api.model_info(model, revision=revision, files_metadata=True)
        except Exception as err:
            failure = error_of(err, model)
            if failure.code in ("network", "offline") and self.offline_done(model, storage, revision):
                return
            raise failure from err
        siblings = info.siblings or []
        keep = wanted([s.rfilename for s in siblings])
        files = [
            (s.rfilename, s.size or 0, s.lfs.sha256 if s.lfs else s.blob_id, s.lfs is not None)
            for s in siblings
            if s.rfilename in keep
        ]
        total = sum(size for _, size, _, _ in files)
        cached = sum(size for _, size, oid, _ in files if (storage / "blobs" / str(oid)).exists())
        emit(
            "prefetch_start",
            self.out,
            model=model,
            revision=revision,
            commit=info.sha,
            files=len(files),
            total_bytes=total,
            cached_bytes=cached,
        )
        if self.plan_only:
            return
        need = total - cached
        free = shutil.disk_usage(self.existing_parent(self.cache_dir)).free
        if need > free:
            raise PrefetchError("disk_full", f"{model} needs {need} more bytes in the cache; the disk has {free} free")
        self.done, self.total, self.last = cached, total, 0.0
        for name, size, oid, lfs in files:
            self.fetch(model, info.sha, name, size, str(oid), lfs, storage)
        if revision != info.sha:  # what hf_hub_download records for a branch, as a `from_pretrained` finds it
            (storage / "refs").mkdir(parents=True, exist_ok=True)
            (storage / "refs" / revision).write_text(str(info.sha))
        snapshot = storage / "snapshots" / str(info.sha)
        emit(
            "prefetch_done", self.out, model=model, commit=info.sha, total_bytes=total, path=str(snapshot), checked=True
        )

    def fetch(self, model: str, commit: str, name: str, size: int, oid: str, lfs: bool, storage: Path) -> None:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.utils import WeakFileLock

        blob = storage / "blobs" / oid
        # One writer per partial blob: a second prefetch (a restarted miner's, beside an orphan) waits.
        lock = self.cache_dir / ".locks" / storage.name / f"{oid}.prefetch.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        with WeakFileLock(lock):
            self.fetch_blob(model, commit, name, oid, lfs, blob)
        # The blob is in place and verified: the client only links it into the snapshot (and refs).
        hf_hub_download(
            model, name, revision=commit, cache_dir=self.cache_dir, token=self.token, endpoint=self.endpoint
        )

    def fetch_blob(self, model: str, commit: str, name: str, oid: str, lfs: bool, blob: Path) -> None:
        from huggingface_hub import get_hf_file_metadata, hf_hub_url
        from huggingface_hub.file_download import http_get
        from huggingface_hub.utils import build_hf_headers

        if not blob.exists():
            meta = get_hf_file_metadata(
                hf_hub_url(model, name, revision=commit, endpoint=self.endpoint),
                token=self.token,
                endpoint=self.endpoint,
            )
            if meta.etag != oid:
                raise PrefetchError("checksum", f"{model}/{name}: the Hub lists {oid} but serves {meta.etag}")
            blob.parent.mkdir(parents=True, exist_ok=True)
            partial = blob.with_name(f"{oid}.incomplete")
            for attempt in (1, 2):
                have = partial.stat().st_size if partial.exists() else 0
                self.done += have
                with partial.open("ab") as f:
                    sink = Counting(f, lambda have=have: self.progress(model, partial, have))
                    http_get(
                        meta.location,
                        sink,
                        resume_size=have,
                        headers=build_hf_headers(token=self.token),
                        expected_size=meta.size,
                        displayed_filename=name,
                    )
                self.done += partial.stat().st_size - have
                if file_digest(partial, lfs) == oid:
                    os.replace(partial, blob)
                    break
                self.done -= partial.stat().st_size
                partial.unlink()
                if attempt == 2:
                    raise PrefetchError("checksum", f"{model}/{name} does not match the Hub's hash {oid}")
            self.progress(model, None, 0, force=True)

    def progress(self, model: str, partial: Path | None, have: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        current = partial.stat().st_size - have if partial is not None and partial.exists() else 0
        emit("prefetch_progress", self.out, model=model, done_bytes=self.done + current, total_bytes=self.total)

    def offline_done(self, model: str, storage: Path, revision: str) -> bool:
        """With the Hub out of reach, a snapshot already complete on disk still counts (not re-checked)."""
        ref = storage / "refs" / revision
        snapshot = storage / "snapshots" / (ref.read_text().strip() if ref.exists() else "-")
        if not snapshot.is_dir() or any((storage / "blobs").glob("*.incomplete")):
            return False
        total = sum(p.stat().st_size for p in snapshot.rglob("*") if p.is_file())
        emit(
            "prefetch_done",
            self.out,
            model=model,
            commit=snapshot.name,
            total_bytes=total,
            path=str(snapshot),
            checked=False,
        )
        return True

    @staticmethod
    def existing_parent(path: Path) -> Path:
        while not path.exists():
            path = path.parent
        return path


def prefetch_command(
    models: list[str],
    cache_dir: Path,
    revision: str,
    endpoint: str | None,
    chunk_bytes: int = RESUME_CHUNK,
    plan: bool = False,
) -> int:
    from huggingface_hub import constants

    constants.DOWNLOAD_CHUNK_SIZE = chunk_bytes
    out = sys.stdout
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGINGFACE_TOKEN") or None
    job = Prefetch(cache_dir.resolve(), endpoint, token, out)
    job.plan_only = plan  # only `prefetch_start`: what would be fetched, for `main.ts doctor`
    failed = 0
    for model in models:
        try:
            job.model(model, revision)
        except Exception as err:  # one model's failure must not stop the others
            failure = error_of(err, model)
            emit("prefetch_error", out, model=model, code=failure.code, message=failure.message)
            failed += 1
    return 1 if failed else 0
