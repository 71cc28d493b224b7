"""transfer.py without a network: path checks, URL encoding, and the retry policy with a fake sleep."""

from __future__ import annotations

import http.client
import socket
import urllib.error
from email.message import Message
from pathlib import Path

import pytest

from trainer import transfer
from trainer.errors import TrainerError


@pytest.mark.parametrize("path", ["a", "a/b.jsonl", "part one/train #1.jsonl", "..a/b..", ".hidden"])
def test_check_rel_path_accepts_plain_relative_paths(path: str) -> None:
    assert transfer.check_rel_path(path) == path


@pytest.mark.parametrize("path", ["", "/a", "../a", "a/..", "a/./b", "a//b", "a/", "a\\b", "a\0b", 3, None])
def test_check_rel_path_refuses_paths_that_could_leave_the_folder(path: object) -> None:
    with pytest.raises(ValueError, match="path"):
        transfer.check_rel_path(path)


def test_url_path_encodes_each_segment_and_keeps_the_slashes() -> None:
    assert transfer.url_path("part one/train #1?.jsonl") == "part%20one/train%20%231%3F.jsonl"


@pytest.mark.parametrize("url", ["ftp://h/", "http://h/no-slash", "http:///", "h/"])
def test_check_base_refuses_without_repeating_the_url(url: str) -> None:
    with pytest.raises(ValueError) as err:
        transfer.check_base(url, "--fetch")
    assert url not in str(err.value)


def http_error(code: int) -> urllib.error.HTTPError:
    return urllib.error.HTTPError("http://h:1/v1/secret/x", code, "Nope", Message(), None)


def test_with_tries_retries_connection_errors_and_5xx_with_backoff() -> None:
    failures: list[Exception] = [ConnectionRefusedError(111, "Connection refused"), http_error(503)]
    slept: list[float] = []

    def attempt() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    assert transfer.with_tries("Cannot fetch x", "http://h:1/v1/secret/", attempt, slept.append) == "ok"
    assert slept == [transfer.BACKOFF_S, 2 * transfer.BACKOFF_S]


@pytest.mark.parametrize(
    ("err", "cause", "tries"),
    [
        (http_error(404), "HTTP 404 Nope", 1),
        (http_error(500), "HTTP 500 Nope", transfer.TRIES),
        (urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")), "Connection refused", 3),
        (TimeoutError("timed out"), "timed out after 30 s", transfer.TRIES),
        (http.client.IncompleteRead(b"ab", 3), "IncompleteRead: IncompleteRead(2 bytes read, 3 more expected)", 3),
        (ValueError("unknown url http://h:1/v1/secret/"), "invalid URL", 1),
    ],
)
def test_with_tries_names_the_host_and_the_cause_but_never_the_url(err: Exception, cause: str, tries: int) -> None:
    calls: list[int] = []

    def attempt() -> None:
        calls.append(1)
        raise err

    with pytest.raises(transfer.TransferError) as failed:
        transfer.with_tries("Cannot fetch x", "http://h:1/v1/secret/", attempt, lambda _s: None)
    assert str(failed.value) == f"Cannot fetch x at h:1: {cause}"
    assert len(calls) == tries


def test_with_tries_lets_a_cancellation_through() -> None:
    def attempt() -> None:
        raise TrainerError("cancelled", "raised by the signal handler mid-request")

    with pytest.raises(TrainerError):
        transfer.with_tries("Cannot fetch x", "http://h:1/v1/secret/", attempt, lambda _s: None)


def test_put_file_waits_out_a_miner_restart_with_capped_backoff(tmp_path: Path) -> None:
    src = tmp_path / "adapter.bin"
    src.write_bytes(b"adapter")
    slept: list[float] = []
    # Nothing listens on this port: every try is refused, as while the miner restarts.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1/tok/out/adapter.bin"
    with pytest.raises(transfer.TransferError):
        transfer.put_file(url, "artifact adapter.bin", src, sleep=slept.append)
    assert max(slept) == transfer.MAX_BACKOFF_S
    assert transfer.RETURN_WITHIN_S - transfer.MAX_BACKOFF_S < sum(slept) <= transfer.RETURN_WITHIN_S
    slept.clear()
    with pytest.raises(transfer.TransferError):
        transfer.put_file(url, "artifact adapter.bin", src, within_s=3, sleep=slept.append)
    assert slept == [1.0, 2.0]
