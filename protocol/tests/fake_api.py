"""A stand-in for the miner's task API (docs/task-api.openapi.yml), for the client's tests.

A standard-library HTTP server on 127.0.0.1 that checks each request's btauth/1 headers the way the
miner does: with bittensor 11.x's own `http_auth.verify` where it is installed; on 10.x (which has no
`http_auth`) by rebuilding the payload and checking the signature with the sender's public key. Tasks
live in a dict; `FakeApi.next_error` makes the next call answer an error, to test the mapping.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from satori_protocol import HAS_HTTP_AUTH
from satori_protocol.btauth import payload

if HAS_HTTP_AUTH:
    from bittensor import http_auth
    from bittensor.keyfiles import Keypair
else:
    from bittensor_wallet import Keypair


AUTH_CODES = {  # the SDK's AuthError subclass -> the task API's (status, code)
    "MalformedAuth": (401, "malformed_auth"),
    "WrongReceiver": (403, "wrong_receiver"),
    "StaleRequest": (401, "stale_request"),
    "BadSignature": (401, "bad_signature"),
    "ReplayedRequest": (401, "replayed_request"),
}


def _verify(
    headers: dict[str, str], body: bytes, method: str, target: str, me: str
) -> str:
    """The sender's ss58, or raises PermissionError with the btauth error's name."""
    if HAS_HTTP_AUTH:
        try:
            caller = http_auth.verify(
                headers, body, method=method, path=target, self_hotkey_ss58=me
            )
        except http_auth.AuthError as e:
            raise PermissionError(type(e).__name__) from None
        return caller.hotkey_ss58
    h = {k.lower(): v for k, v in headers.items()}
    scheme = h.get("x-bittensor-crypto", "sr25519")
    sender = h["x-bittensor-hotkey"]
    if h.get("x-bittensor-receiver") != me:
        raise PermissionError("WrongReceiver")
    signed = payload(
        scheme, method, target, body, int(h["x-bittensor-nonce"]), sender, me
    )
    key = Keypair(ss58_address=sender, crypto_type=0 if scheme == "ed25519" else 1)
    if not key.verify(signed, bytes.fromhex(h["x-bittensor-signature"][2:])):
        raise PermissionError("BadSignature")
    return sender


class FakeApi:
    """The task API for one miner hotkey. `requests` records (method, target, body, sender)."""

    def __init__(self, miner_hotkey: str) -> None:
        self.hotkey = miner_hotkey
        self.tasks: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, bytes, str]] = []
        self.next_error: tuple[int, dict[str, Any], dict[str, str]] | None = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeApi:  # noqa: PYI034 - typing.Self is 3.11+
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(
        self, method: str, target: str, body: bytes, sender: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        self.requests.append((method, target, body, sender))
        if self.next_error is not None:
            error, self.next_error = self.next_error, None
            return error
        parts = target.split("/")
        if method == "POST" and target == "/v1/tasks":
            task = json.loads(body)
            self.tasks[task["id"]] = {
                "task_id": task["id"],
                "state": "queued",
                "by": sender,
            }
            return (
                202,
                {"task_id": task["id"], "accepted": True, "queue_position": 0},
                {},
            )
        if method == "GET" and target == "/v1/capacity":
            capacity = {"total_gpus": 2, "free_gpus": 1, "gpu_vram_mb": [81920, 81920]}
            return 200, {**capacity, "queue_length": 3, "queue_max": 100}, {}
        task = self.tasks.get(parts[3]) if len(parts) > 3 else None
        if task is None or task["by"] != sender:
            return 404, {"error": "not_found", "message": "unknown task"}, {}
        if method == "GET" and len(parts) == 4:
            return 200, {**_public(task), "progress": 0.5, "result_repo": None}, {}
        if method == "POST" and parts[4:] == ["cancel"]:
            if task["state"] == "failed":
                return 409, {"error": "not_cancellable", "message": "it ended"}, {}
            task.update(state="failed", reason="cancelled")
            return 200, _public(task), {}
        return 404, {"error": "not_found", "message": f"no route {target}"}, {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers.items())
                try:
                    sender = _verify(headers, body, self.command, self.path, api.hotkey)
                    status, reply, extra = api.answer(
                        self.command, self.path, body, sender
                    )
                except PermissionError as e:
                    status, code = AUTH_CODES[str(e)]
                    reply, extra = {"error": code, "message": str(e)}, {}
                data = json.dumps(reply).encode()
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **extra}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _serve
            do_POST = _serve

        return Handler


def _public(task: dict[str, Any]) -> dict[str, Any]:
    return {
        "task_id": task["task_id"],
        "state": task["state"],
        "reason": task.get("reason"),
    }
