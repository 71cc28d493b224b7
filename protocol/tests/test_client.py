"""satori_protocol's client on the installed SDK (run it with .venv-bt for 10.x and .venv-bt11 for 11.x).

The transport follows the SDK; btauth/1 headers (the SDK's own on 11.x, ours from the hotkey keypair
on 10.x) verify with bittensor 11's `http_auth.verify` and its `build_payload` bytes; MinerClient over
the task API (fake_api.py, which verifies each request) returns the result models and maps every
error body to one SatoriError with its code, status and Retry-After. The synapse transport is run
against the real miner axon by tests/protocol_example_test.ts. Runs under pytest, or as a script.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import types
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import bittensor as bt
from fake_api import FakeApi
from satori_protocol import (
    HAS_HTTP_AUTH,
    HAS_SYNAPSE,
    MinerClient,
    SatoriError,
    Submitted,
    TaskInfo,
    TextTaskRequest,
    default_transport,
)
from satori_protocol.btauth import _reply, keypair_signer, payload
from satori_protocol.client import endpoint, task_json

PHRASE = "stool vivid uncover slot bunker mention gate lunch guitar trust insane jar"
TASK = {
    "id": "client-1",
    "type": "text",
    "dataset": {"kind": "hf", "repo": "satori/toy", "revision": "main"},
    "training": {
        "base_model": "Qwen/Qwen2.5-0.5B",
        "hyperparameters": {"max_steps": 7},
    },
}
TARGETS = ["/v1/tasks", "/v1/tasks/a.b-c?x=1&x=2&y=%20", "/v1/capacity?", "/"]
BODIES = [b"", b"{}", json.dumps(TASK).encode(), "é\u2028".encode()]


def expect_error(coro: Any) -> SatoriError:
    try:
        asyncio.run(coro)
    except SatoriError as e:
        return e
    raise AssertionError("expected a SatoriError")


def keypair(crypto_type: int = 1) -> Any:
    if HAS_HTTP_AUTH:
        from bittensor.keyfiles import Keypair
    else:
        from bittensor_wallet import Keypair
    return Keypair.create_from_mnemonic(PHRASE, crypto_type=crypto_type)


def wallet(root: str, crypto_type: int = 1) -> Any:
    """A validator wallet on disk, made with the installed SDK (hotkey only, no password)."""
    w = bt.Wallet(name="validator", hotkey="default", path=root)
    w.regenerate_hotkey(
        mnemonic=PHRASE,
        use_password=False,
        overwrite=True,
        suppress=True,
        crypto_type=crypto_type,
    )
    return w


def test_default_transport_follows_the_installed_sdk() -> None:
    assert HAS_SYNAPSE != HAS_HTTP_AUTH
    assert default_transport() == ("synapse" if HAS_SYNAPSE else "btauth")


def test_endpoint_reads_an_axon_info_and_an_ip_port_string() -> None:
    axon = types.SimpleNamespace(ip="10.0.0.1", port=8091, hotkey="5Miner")
    assert endpoint(axon, None) == ("10.0.0.1", 8091, "5Miner")
    assert endpoint("1.2.3.4:80", "5M") == ("1.2.3.4", 80, "5M")
    assert endpoint("[::1]:8091", "5M") == ("::1", 8091, "5M")
    for bad, hotkey in (
        ("1.2.3.4", "5M"),
        (":80", "5M"),
        ("1.2.3.4:x", "5M"),
        ("1.2.3.4:80", None),
    ):
        try:
            endpoint(bad, hotkey)
        except ValueError as e:
            assert "axon" in str(e)
        else:
            raise AssertionError(f"accepted {bad!r}")


def test_task_json_checks_a_dict_and_dumps_floats_as_floats() -> None:
    sent = task_json(TASK)
    assert sent["training"]["hyperparameters"]["max_steps"] == 7
    assert task_json(TextTaskRequest.model_validate(TASK)) == sent
    e = None
    try:
        task_json({**TASK, "gpus": 0})
    except SatoriError as err:
        e = err
    assert (
        e is not None and e.code == "invalid_task" and e.refusal and "gpus" in e.message
    )


def test_reply_maps_an_error_body_to_its_code_status_and_retry_after() -> None:
    body = {"error": "queue_full", "message": "100 of 100", "extra": 1}
    try:
        _reply("POST x", 429, 7.0, json.dumps(body).encode())
    except SatoriError as e:
        assert (e.code, e.message, e.status, e.retry_after) == (
            "queue_full",
            "100 of 100",
            429,
            7.0,
        )
        assert e.details == {"extra": 1} and e.refusal
    else:
        raise AssertionError("no error")
    assert _reply("GET x", 200, None, b'{"a": 1}') == {"a": 1}


def test_reply_refuses_a_body_that_is_not_the_task_api() -> None:
    for status, data in (
        (200, b"[1]"),
        (500, b"<html>"),
        (403, b'{"message": "x"}'),
        (200, b"\xff"),
    ):
        try:
            _reply("GET x", status, None, data)
        except SatoriError as e:
            assert e.code == "bad_response" and e.status == status and not e.refusal
        else:
            raise AssertionError(f"accepted {data!r}")


def test_keypair_signer_makes_headers_the_sdk_verifies() -> None:
    """10.x signs btauth/1 itself (cancel); the bytes and headers must be the 11.x SDK's."""
    for crypto_type in (1, 0):
        kp = keypair(crypto_type)
        receiver = keypair().ss58_address
        nonce = iter(range(1_700_000_000_000_000_000, 1_800_000_000_000_000_000, 1000))
        sign = keypair_signer(kp, receiver, clock_ns=lambda n=nonce: next(n))
        for target in TARGETS:
            for body in BODIES:
                h = sign("post", target, body)
                assert h.get("X-Bittensor-Crypto") == (
                    None if crypto_type == 1 else "ed25519"
                )
                signed = payload(
                    "ed25519" if crypto_type == 0 else "sr25519",
                    "POST",
                    target,
                    body,
                    int(h["X-Bittensor-Nonce"]),
                    kp.ss58_address,
                    receiver,
                )
                sig = bytes.fromhex(h["X-Bittensor-Signature"].removeprefix("0x"))
                assert kp.verify(signed, sig)
                if HAS_HTTP_AUTH:
                    from bittensor import http_auth

                    assert signed == http_auth.build_payload(
                        scheme="ed25519" if crypto_type == 0 else "sr25519",
                        method="post",
                        path=target,
                        body=body,
                        nonce_ns=int(h["X-Bittensor-Nonce"]),
                        sender_ss58=kp.ss58_address,
                        receiver_ss58=receiver,
                    )
                    caller = http_auth.verify(
                        h,
                        body,
                        method="POST",
                        path=target,
                        self_hotkey_ss58=receiver,
                        now_ns=int(h["X-Bittensor-Nonce"]),
                        nonce_store=http_auth.InMemoryNonceStore(),
                    )
                    assert caller.hotkey_ss58 == kp.ss58_address


def test_client_calls_the_task_api_and_maps_its_errors() -> None:
    with tempfile.TemporaryDirectory() as root, FakeApi(keypair().ss58_address) as api:
        w = wallet(root, crypto_type=0 if HAS_HTTP_AUTH else 1)

        async def calls() -> list[Any]:
            async with MinerClient(
                w, f"127.0.0.1:{api.port}", hotkey=api.hotkey, transport="btauth"
            ) as miner:
                out: list[Any] = [await miner.submit_task(TASK)]
                out += [await miner.task_status("client-1"), await miner.capacity()]
                out.append(await miner.cancel("client-1"))
                return out

        sent, info, capacity, cancelled = asyncio.run(calls())
        assert sent == Submitted(task_id="client-1", queue_position=0)
        assert info == TaskInfo(task_id="client-1", state="queued", progress=0.5)
        assert not info.terminal and cancelled.terminal
        assert (cancelled.state, cancelled.reason) == ("failed", "cancelled")
        assert (capacity.free_gpus, capacity.gpu_vram_mb, capacity.queue_max) == (
            1,
            [81920, 81920],
            100,
        )
        assert [r[:2] for r in api.requests] == [
            ("POST", "/v1/tasks"),
            ("GET", "/v1/tasks/client-1"),
            ("GET", "/v1/capacity"),
            ("POST", "/v1/tasks/client-1/cancel"),
        ]
        assert json.loads(api.requests[0][2]) == task_json(TASK)
        assert {r[3] for r in api.requests} == {w.hotkey.ss58_address}

        miner = MinerClient(
            w, f"127.0.0.1:{api.port}", hotkey=api.hotkey, transport="btauth"
        )
        e = expect_error(miner.cancel("client-1"))
        assert (e.code, e.status, e.refusal) == ("not_cancellable", 409, False)
        e = expect_error(miner.task_status("nobody's"))
        assert (e.code, e.status) == ("not_found", 404)
        assert api.requests[-1][1] == "/v1/tasks/nobody%27s"
        api.next_error = (
            409,
            {
                "error": "duplicate",
                "message": "sent before",
                "state": "queued",
                "queue_position": 2,
            },
            {},
        )
        e = expect_error(miner.submit_task(TASK))
        assert (e.code, e.refusal, e.details) == (
            "duplicate",
            True,
            {"state": "queued", "queue_position": 2},
        )
        api.next_error = (
            503,
            {"error": "unavailable", "message": "queue restarting"},
            {"Retry-After": "3"},
        )
        e = expect_error(miner.capacity())
        assert (e.code, e.status, e.retry_after, e.refusal) == (
            "unavailable",
            503,
            3.0,
            False,
        )
        wrong = MinerClient(
            w,
            f"127.0.0.1:{api.port}",
            hotkey=keypair(0).ss58_address,
            transport="btauth",
        )
        e = expect_error(wrong.capacity())
        assert (e.code, e.status, e.refusal) == ("wrong_receiver", 403, False)


def test_client_says_unreachable_when_nothing_listens() -> None:
    with FakeApi("5x") as api:
        port = api.port
    with tempfile.TemporaryDirectory() as root:
        miner = MinerClient(
            wallet(root), f"127.0.0.1:{port}", hotkey="5x", transport="btauth"
        )
        e = expect_error(miner.capacity())
        assert e.code == "unreachable" and f"127.0.0.1:{port}" in e.message


def test_synapse_transport_needs_bittensor_10() -> None:
    if HAS_SYNAPSE:
        import satori_protocol

        assert satori_protocol.TrainingTask.__name__ == "TrainingTask"
        return
    try:
        MinerClient(object(), "127.0.0.1:1", hotkey="5x", transport="synapse")
    except SatoriError as e:
        assert e.code == "unsupported" and "11." in e.message
    else:
        raise AssertionError("built a synapse client on 11.x")
    for name in ("TrainingTask", "SYNAPSES"):
        try:
            getattr(__import__("satori_protocol"), name)
        except AttributeError as e:
            assert "MinerClient" in str(e)
        else:
            raise AssertionError(f"satori_protocol.{name} exists on 11.x")
    try:
        import satori_protocol.synapses
    except ImportError as e:
        assert "bittensor 10.x" in str(e)
    else:
        raise AssertionError("satori_protocol.synapses imported on 11.x")


def main() -> int:
    failed = 0
    for name, fn in list(globals().items()):
        if name.startswith("test_") and callable(fn):
            try:
                fn()
                print(f"ok   {name}")
            except Exception as e:  # noqa: BLE001 - report every test, then fail
                failed += 1
                print(f"FAIL {name}: {type(e).__name__}: {e}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
