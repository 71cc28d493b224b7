"""HTTP between a Ray node and the miner for `python -m trainer remote` (stdlib urllib only): small GETs,
streamed GETs into a file while hashing, streamed PUTs from a file while hashing, and the path checks both
directions need. Base URLs are capabilities (a signed token in the path): messages name only the host, and
requests bypass any HTTP proxy in the environment so the token reaches nothing but the miner."""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar
from urllib.parse import quote, urlsplit

log = logging.getLogger("trainer.remote")

TIMEOUT_S = 30.0  # per request: connect and each read
TRIES = 3
# The adapter goes back at the end of hours of training: worth waiting out a miner restart (its files
# server is down meanwhile) rather than failing the run; `remote --return-within-s` bounds the waiting.
RETURN_WITHIN_S = 600.0
BACKOFF_S = 1.0  # before the 2nd try; doubled before each next one, up to MAX_BACKOFF_S
MAX_BACKOFF_S = 60.0
CHUNK = 1024 * 1024

T = TypeVar("T")

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class TransferError(Exception):
    """A request that failed for good; the message names the host, never the URL."""


def host_of(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host


def check_base(url: str, flag: str) -> str:
    """A base URL as the miner signs it: http(s), a host, ending in `/`. The error never repeats the URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or not url.endswith("/"):
        raise ValueError(f"Cannot use {flag}: expected an http(s) URL ending in '/'")
    return url


def check_rel_path(path: object) -> str:
    """A relative path with forward slashes and plain segments, safe to join under a folder and a URL."""
    if not isinstance(path, str) or not path:
        raise ValueError(f"path {path!r} is not a non-empty string")
    if "\\" in path or "\0" in path:
        raise ValueError(f"path {path!r} has a backslash or NUL")
    if path.startswith("/"):
        raise ValueError(f"path {path!r} is absolute")
    if any(seg in ("", ".", "..") for seg in path.split("/")):
        raise ValueError(f"path {path!r} has an empty, '.' or '..' segment")
    return path


def url_path(path: str) -> str:
    """`path` with each segment percent-encoded (the `/` between them kept)."""
    return "/".join(quote(seg, safe="") for seg in path.split("/"))


def _retryable(err: BaseException) -> bool:
    """Connection errors, timeouts, cut-off bodies and 5xx: worth another try; 4xx is an answer."""
    return not isinstance(err, urllib.error.HTTPError) or err.code >= 500


def _cause(err: BaseException) -> str:
    """What went wrong, built from parts that cannot hold the URL."""
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        reason = err.reason
        return _cause(reason) if isinstance(reason, BaseException) else str(reason)
    if isinstance(err, TimeoutError):
        return f"timed out after {TIMEOUT_S:.0f} s"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__  # RemoteDisconnected, IncompleteRead


def with_tries(
    what: str,
    url: str,
    attempt: Callable[[], T],
    sleep: Callable[[float], None] = time.sleep,
    within_s: float | None = None,
) -> T:
    """Run `attempt` up to TRIES times, or, given `within_s`, as long as the waits between tries add up to
    no more than that, backing off on connection errors and 5xx; raise TransferError. Only network
    errors are caught: a TrainerError raised by a signal handler passes through."""
    delay = BACKOFF_S
    waited = 0.0
    n = 0
    while True:
        n += 1
        try:
            return attempt()
        except ValueError:  # http.client.InvalidURL and urllib's own: their text would repeat the URL
            raise TransferError(f"{what} at {host_of(url)}: invalid URL") from None
        except (OSError, http.client.HTTPException) as err:
            out_of_time = waited + delay > within_s if within_s is not None else n >= TRIES
            if not _retryable(err) or out_of_time:
                raise TransferError(f"{what} at {host_of(url)}: {_cause(err)}") from None
            log.warning("%s at %s: %s; try %d in %.0f s", what, host_of(url), _cause(err), n + 1, delay)
            sleep(delay)
            waited += delay
            delay = min(delay * 2, MAX_BACKOFF_S)


def get_bytes(url: str, what: str, limit: int) -> bytes:
    """A small document (task.json, manifest.json), refused beyond `limit` bytes."""

    def attempt() -> bytes:
        with _opener.open(url, timeout=TIMEOUT_S) as resp:
            body = resp.read(limit + 1)
        if len(body) > limit:
            raise TransferError(f"{what} at {host_of(url)}: larger than {limit} bytes")
        return body

    return with_tries(f"Cannot fetch {what} from the miner", url, attempt)


def hash_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def get_file(url: str, what: str, dest: Path, max_bytes: int) -> tuple[str, int]:
    """Stream a GET into `dest` (replaced), hashing on the way; stops reading past `max_bytes`.
    Returns (sha256, bytes) of what was received."""

    def attempt() -> tuple[str, int]:
        digest, size = hashlib.sha256(), 0
        with _opener.open(url, timeout=TIMEOUT_S) as resp, dest.open("wb") as f:
            while size <= max_bytes and (chunk := resp.read(min(CHUNK, max_bytes + 1 - size))):
                digest.update(chunk)
                size += len(chunk)
                f.write(chunk)
        return digest.hexdigest(), size

    return with_tries(f"Cannot fetch {what} from the miner", url, attempt)


class _HashingReader:
    """The body of a PUT: reads the file for http.client and hashes what it sent."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.digest = hashlib.sha256()
        self.sent = 0

    def read(self, n: int = -1) -> bytes:
        chunk = self.f.read(n)
        self.digest.update(chunk)
        self.sent += len(chunk)
        return chunk


def put_file(
    url: str,
    what: str,
    src: Path,
    within_s: float = RETURN_WITHIN_S,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[str, int]:
    """Stream `src` as a PUT with Content-Length; returns (sha256, bytes) of the body sent. A missing
    `src` raises FileNotFoundError at once (not retried)."""
    src.stat()

    def attempt() -> tuple[str, int]:
        with src.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            body = _HashingReader(f)
            headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
            req = urllib.request.Request(url, data=body, method="PUT", headers=headers)
            with _opener.open(req, timeout=TIMEOUT_S) as resp:
                resp.read()
        return body.digest.hexdigest(), body.sent

    return with_tries(f"Cannot return {what} to the miner", url, attempt, sleep, within_s)
