"""The miner's task API (`/v1/...` on the axon port) over plain HTTP, each request signed with btauth/1.

On bittensor 11.x the headers come from the SDK itself (`bittensor.http_auth.sign`). bittensor 10.x has
no `http_auth`, so `keypair_signer` signs the same normative payload with the hotkey's keypair (used
for `cancel`, which has no synapse): eight lines joined by `\\n` — `btauth/1`, the scheme, the
uppercase method, the request target as sent, the hex sha256 of the body, the nonce (ns), the sender
and the receiver. protocol/tests/test_client.py checks these bytes and headers against the 11.x SDK's
own `build_payload` and `verify`.

HTTP goes through the standard library (`http.client` in a worker thread): bittensor 11.x brings no
HTTP client of its own, and nothing here needs one.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import time
from collections.abc import Callable
from typing import Any

from .results import SatoriError

__all__ = ["MAX_REPLY_BYTES", "Signer", "TaskApi", "keypair_signer", "sdk_signer"]

Signer = Callable[[str, str, bytes], dict[str, str]]
"""(method, request target, body) -> the btauth/1 headers for one request, with a fresh nonce."""

MAX_REPLY_BYTES = 1 << 20
"""A reply larger than this is not the contract (the biggest, capacity, is a few hundred bytes)."""

_SCHEMES = {0: "ed25519", 1: "sr25519"}  # substrate crypto type -> btauth/1 scheme name


def sdk_signer(wallet: Any, receiver: str) -> Signer:
    """bittensor 11.x: the SDK's own `http_auth.sign` with `wallet`'s hotkey, bound to `receiver`."""
    from bittensor import http_auth

    def sign(method: str, target: str, body: bytes) -> dict[str, str]:
        return http_auth.sign(
            wallet, method=method, path=target, body=body, receiver_ss58=receiver
        )

    return sign


def payload(
    scheme: str,
    method: str,
    target: str,
    body: bytes,
    nonce_ns: int,
    sender: str,
    receiver: str,
) -> bytes:
    """The signed bytes of btauth/1 (bittensor 11.x `http_auth.build_payload`)."""
    lines = (
        "btauth/1",
        scheme,
        method.upper(),
        target,
        hashlib.sha256(body).hexdigest(),
        str(nonce_ns),
        sender,
        receiver,
    )
    return "\n".join(lines).encode()


def keypair_signer(
    keypair: Any, receiver: str, clock_ns: Callable[[], int] = time.time_ns
) -> Signer:
    """bittensor 10.x: btauth/1 headers signed by `keypair` (a wallet's `hotkey`), bound to `receiver`."""
    scheme = _SCHEMES.get(int(keypair.crypto_type))
    if scheme is None:
        raise ValueError(
            f"Cannot sign btauth/1 requests with crypto type {keypair.crypto_type!r}"
        )
    sender = keypair.ss58_address

    def sign(method: str, target: str, body: bytes) -> dict[str, str]:
        nonce = clock_ns()
        signature = keypair.sign(
            payload(scheme, method, target, body, nonce, sender, receiver)
        )
        headers = {
            "X-Bittensor-Version": "1",
            "X-Bittensor-Hotkey": sender,
            "X-Bittensor-Nonce": str(nonce),
            "X-Bittensor-Signature": "0x" + bytes(signature).hex(),
            "X-Bittensor-Receiver": receiver,
        }
        if scheme != "sr25519":
            headers["X-Bittensor-Crypto"] = scheme
        return headers

    return sign


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the miner sends seconds, anything else is not worth guessing


class TaskApi:
    """Signed JSON requests to one miner. Each call signs a fresh nonce just before it is sent."""

    def __init__(self, host: str, port: int, sign: Signer, timeout: float) -> None:
        self.host = host
        self.port = port
        self.sign = sign
        self.timeout = timeout

    async def request(
        self, method: str, target: str, body: Any | None = None
    ) -> dict[str, Any]:
        """The reply's JSON object on a 2xx; a SatoriError with the API's code otherwise."""
        raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        return await asyncio.to_thread(self._exchange, method, target, raw)

    def _exchange(self, method: str, target: str, raw: bytes) -> dict[str, Any]:
        where = f"{method} http://{self.host}:{self.port}{target}"
        headers = self.sign(method, target, raw)
        if raw:
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, target, body=raw, headers=headers)
            resp = conn.getresponse()
            data = resp.read(MAX_REPLY_BYTES + 1)
            status, retry = resp.status, _retry_after(resp.getheader("Retry-After"))
        except TimeoutError:
            raise SatoriError(
                "timeout", f"{where}: no reply in {self.timeout:g} s"
            ) from None
        except (OSError, http.client.HTTPException) as e:
            raise SatoriError("unreachable", f"{where}: {e}") from None
        finally:
            conn.close()
        return _reply(where, status, retry, data)


def _reply(where: str, status: int, retry: float | None, data: bytes) -> dict[str, Any]:
    """The JSON object of a 2xx reply, or the SatoriError its error body names."""
    try:
        if len(data) > MAX_REPLY_BYTES:
            raise ValueError(f"more than {MAX_REPLY_BYTES} bytes")
        parsed = json.loads(data)
        if not isinstance(parsed, dict):
            raise TypeError("not a JSON object")
    # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
    except (ValueError, TypeError) as e:
        raise SatoriError(
            "bad_response",
            f"{where}: HTTP {status} with a body that is not the task API's ({e})",
            status=status,
            retry_after=retry,
        ) from None
    if 200 <= status < 300:
        return parsed
    code, message = parsed.get("error"), parsed.get("message")
    if not isinstance(code, str):
        raise SatoriError(
            "bad_response",
            f"{where}: HTTP {status} without an error code",
            status=status,
            retry_after=retry,
        )
    details = {k: v for k, v in parsed.items() if k not in ("error", "message")}
    raise SatoriError(
        code,
        str(message or f"HTTP {status}"),
        status=status,
        retry_after=retry,
        details=details,
    )
