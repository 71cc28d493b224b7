"""A corpus of btauth/1 requests signed by bittensor 11's own `http_auth.sign`, with the verdict of its own
`http_auth.verify` on each, for tests/axon_btauth_corpus_test.ts to run through the miner's verifier.

Each entry is a sequence of requests sharing one nonce store (a replay is the second of two); each
request carries its headers (ordered pairs: two spellings of one name may both be there), method,
target, base64 body, the verifier's clock (`now_ns`) and the SDK's verdict: "ok" or the AuthError
subclass name. Prints the JSON on stdout.

  .venv-bt11/bin/python tests/py/axon_btauth_corpus.py
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

import bittensor_core as core
from bittensor import http_auth

VALIDATOR_PHRASE = (
    "old leopard transfer rib spatial phone calm indicate online fire caution review"
)
MINER_PHRASE = (
    "legal winner thank year wave sausage worth useful legal winner thank yellow"
)
NOW = 1_790_000_000_123_456_789  # a fixed clock, past 2^53: nonces are big integers

SR = core.Keypair.create_from_mnemonic(VALIDATOR_PHRASE, core.CRYPTO_SR25519)
ED = core.Keypair.create_from_uri("//Satori-ed25519", core.CRYPTO_ED25519)
MINER = core.Keypair.create_from_mnemonic(
    MINER_PHRASE, core.CRYPTO_SR25519
).ss58_address
OTHER = core.Keypair.create_from_uri("//Bob", core.CRYPTO_SR25519).ss58_address


class Prefixed:
    """A signer whose ss58 uses another network prefix (the SDK's verify decodes any)."""

    def __init__(self, kp: Any, prefix: int) -> None:
        self.kp = kp
        self.public_key = bytes(kp.public_key)
        self.crypto_type = kp.crypto_type
        self.ss58_address = core.ss58_encode(core.ss58_decode(kp.ss58_address), prefix)

    def sign(self, data: bytes) -> bytes:
        return bytes(self.kp.sign(data))


def request(
    signer: Any = SR,
    method: str = "POST",
    target: str = "/v1/tasks",
    body: bytes = b"{}",
    **kw: Any,
):
    nonce = kw.pop("nonce", NOW - 1_000_000_000)
    headers = http_auth.sign(
        signer,
        method=method,
        path=target,
        body=body,
        receiver_ss58=kw.pop("receiver", MINER),
        nonce_ns=nonce,
    )
    return {
        "headers": list(headers.items()),
        "method": method,
        "target": target,
        "body": body,
        "now_ns": NOW,
        **kw,
    }


def edit(req: dict, **changes: Any) -> dict:
    """The request with headers set (None: removed) or fields changed after signing."""
    out = dict(req)
    headers = list(req["headers"])
    for name, value in changes.pop("headers", {}).items():
        headers = [(k, v) for k, v in headers if k.lower() != name.lower()]
        if value is not None:
            headers.append((name, value))
    out["headers"] = headers
    out.update(changes)
    return out


def wrapped(signer: Any = SR, **kw: Any) -> dict:
    """Signed over `<Bytes>` + payload + `</Bytes>`, as wallet extensions sign."""
    req = request(signer, **kw)
    h = dict(req["headers"])
    payload = http_auth.build_payload(
        scheme="ed25519" if signer.crypto_type == core.CRYPTO_ED25519 else "sr25519",
        method=req["method"],
        path=req["target"],
        body=req["body"],
        nonce_ns=int(h["X-Bittensor-Nonce"]),
        sender_ss58=h["X-Bittensor-Hotkey"],
        receiver_ss58=MINER,
    )
    sig = bytes(signer.sign(b"<Bytes>" + payload + b"</Bytes>"))
    return edit(req, headers={"X-Bittensor-Signature": "0x" + sig.hex()})


def corpus() -> list[tuple[str, list[dict]]]:
    base = request()
    sig = dict(base["headers"])["X-Bittensor-Signature"]
    nonce = dict(base["headers"])["X-Bittensor-Nonce"]
    ed = request(ED, method="GET", target="/v1/tasks/t-1", body=b"")
    out: list[tuple[str, list[dict]]] = [
        ("sr25519 POST", [base]),
        ("ed25519 GET, empty body", [ed]),
        (
            "ed25519 scheme named in upper case",
            [edit(ed, headers={"X-Bittensor-Crypto": " ED25519 "})],
        ),
        ("ed25519 scheme by number", [edit(ed, headers={"X-Bittensor-Crypto": "0"})]),
        ("sr25519 scheme by number", [edit(base, headers={"X-Bittensor-Crypto": "1"})]),
        (
            "ed25519 signature declared sr25519",
            [edit(ed, headers={"X-Bittensor-Crypto": None})],
        ),
        (
            "sr25519 signature declared ed25519",
            [edit(base, headers={"X-Bittensor-Crypto": "ed25519"})],
        ),
        ("unknown scheme", [edit(base, headers={"X-Bittensor-Crypto": "ecdsa"})]),
        ("empty scheme", [edit(base, headers={"X-Bittensor-Crypto": ""})]),
        ("sr25519 <Bytes>-wrapped", [wrapped()]),
        (
            "ed25519 <Bytes>-wrapped",
            [wrapped(ED, method="GET", target="/v1/capacity", body=b"")],
        ),
        ("sender with network prefix 0", [request(Prefixed(SR, 0))]),
        ("sender with network prefix 2", [request(Prefixed(ED, 2))]),
        ("replayed nonce", [base, base]),
        ("same nonce, other hotkey", [base, request(ED)]),
        (
            "header names in lower case",
            [{**base, "headers": [(k.lower(), v) for k, v in base["headers"]]}],
        ),
        (
            "two spellings of the nonce, the last wins",
            [{**base, "headers": [*base["headers"], ("x-bittensor-nonce", "12")]}],
        ),
        ("body changed after signing", [edit(base, body=b'{"x":1}')]),
        ("body emptied after signing", [edit(base, body=b"")]),
        ("query added after signing", [edit(base, target="/v1/tasks?x=1")]),
        ("method changed after signing", [edit(base, method="PUT")]),
        ("method sent in lower case", [edit(base, method="post")]),
        (
            "nonce header changed",
            [edit(base, headers={"X-Bittensor-Nonce": str(int(nonce) + 1)})],
        ),
        (
            "nonce with underscores and spaces",
            [edit(base, headers={"X-Bittensor-Nonce": " " + "_".join(nonce) + " "})],
        ),
        (
            "nonce with a plus sign",
            [edit(base, headers={"X-Bittensor-Nonce": "+" + nonce})],
        ),
        (
            "nonce not an integer",
            [edit(base, headers={"X-Bittensor-Nonce": nonce + ".0"})],
        ),
        ("nonce empty", [edit(base, headers={"X-Bittensor-Nonce": ""})]),
        (
            "nonce of 5000 digits",
            [edit(base, headers={"X-Bittensor-Nonce": "1" * 5000})],
        ),
        ("negative nonce", [edit(base, headers={"X-Bittensor-Nonce": "-5"})]),
        ("nonce exactly 10 s old", [request(nonce=NOW - 10_000_000_000)]),
        ("nonce 10 s and 1 ns old", [request(nonce=NOW - 10_000_000_001)]),
        ("nonce 11 s old", [request(nonce=NOW - 11_000_000_000)]),
        ("nonce exactly 2 s ahead", [request(nonce=NOW + 2_000_000_000)]),
        ("nonce 2 s and 1 ns ahead", [request(nonce=NOW + 2_000_000_001)]),
        ("nonce 3 s ahead", [request(nonce=NOW + 3_000_000_000)]),
        ("wrong receiver", [request(receiver=OTHER)]),
        (
            "receiver header changed",
            [edit(base, headers={"X-Bittensor-Receiver": OTHER})],
        ),
        ("receiver missing", [edit(base, headers={"X-Bittensor-Receiver": None})]),
        ("receiver empty", [edit(base, headers={"X-Bittensor-Receiver": ""})]),
        (
            "signature without 0x",
            [edit(base, headers={"X-Bittensor-Signature": sig[2:]})],
        ),
        (
            "signature in upper case",
            [edit(base, headers={"X-Bittensor-Signature": "0x" + sig[2:].upper()})],
        ),
        (
            "signature with 0X",
            [edit(base, headers={"X-Bittensor-Signature": "0X" + sig[2:]})],
        ),
        (
            "signature hex split by spaces",
            [
                edit(
                    base,
                    headers={
                        "X-Bittensor-Signature": "0x"
                        + " ".join(sig[i : i + 2] for i in range(2, len(sig), 2))
                    },
                )
            ],
        ),
        (
            "signature odd length",
            [edit(base, headers={"X-Bittensor-Signature": sig[:-1]})],
        ),
        (
            "signature 63 bytes",
            [edit(base, headers={"X-Bittensor-Signature": sig[:-2]})],
        ),
        (
            "signature 65 bytes",
            [edit(base, headers={"X-Bittensor-Signature": sig + "00"})],
        ),
        (
            "signature not hex",
            [edit(base, headers={"X-Bittensor-Signature": "0x" + "zz" * 64})],
        ),
        (
            "signature one bit off",
            [
                edit(
                    base,
                    headers={
                        "X-Bittensor-Signature": sig[:-1]
                        + ("0" if sig[-1] != "0" else "1")
                    },
                )
            ],
        ),
        (
            "signature of another request",
            [
                edit(
                    base,
                    headers={
                        "X-Bittensor-Signature": dict(ed["headers"])[
                            "X-Bittensor-Signature"
                        ]
                    },
                )
            ],
        ),
        (
            "sender changed",
            [edit(base, headers={"X-Bittensor-Hotkey": ED.ss58_address})],
        ),
        (
            "sender with a broken checksum",
            [
                edit(
                    base,
                    headers={
                        "X-Bittensor-Hotkey": SR.ss58_address[:-1]
                        + ("A" if SR.ss58_address[-1] != "A" else "B")
                    },
                )
            ],
        ),
        (
            "sender as a hex public key",
            [
                edit(
                    base,
                    headers={"X-Bittensor-Hotkey": "0x" + bytes(SR.public_key).hex()},
                )
            ],
        ),
        ("sender empty", [edit(base, headers={"X-Bittensor-Hotkey": ""})]),
        ("version 2", [edit(base, headers={"X-Bittensor-Version": "2"})]),
        ("version missing", [edit(base, headers={"X-Bittensor-Version": None})]),
    ]
    for name in ("Hotkey", "Nonce", "Signature"):
        out.append(
            (f"{name} missing", [edit(base, headers={f"X-Bittensor-{name}": None})])
        )
    targets = [
        "/v1/tasks?",
        "/v1/tasks?a=1&b=2",
        "/v1/tasks?b=2&a=1",
        "/v1/tasks?q=a%20b&&x=%7E#frag",
        "/v1/tasks;p=1",
        "/v1/tasks/ü/ß?é=ø&☃",
        "/v1//tasks/./../x",
        "/",
        "*",
        "/v1/tasks?x=" + "y" * 4000,
    ]
    out += [(f"target {t[:40]!r}", [request(target=t)]) for t in targets]
    # Signed one way, sent another: the target is compared as sent, never normalised.
    resent = [
        ("/v1/tasks?a=1&b=2", "/v1/tasks?b=2&a=1"),
        ("/v1/tasks?q=%7E", "/v1/tasks?q=~"),
        ("/v1/tasks?", "/v1/tasks"),
        ("/v1/tasks/ü", "/v1/tasks/%C3%BC"),
        ("/v1/tasks", "/v1/tasks/"),
        ("/v1/Tasks", "/v1/tasks"),
    ]
    out += [
        (f"signed {a!r}, sent {b!r}", [edit(request(target=a), target=b)])
        for a, b in resent
    ]
    bodies = [
        b"",
        b"null",
        '{"name": "ünïcødé ☃"}'.encode(),
        bytes(range(256)),
        b"x" * 200_000,
        b"\r\n",
    ]
    out += [(f"body of {len(b)} bytes", [request(body=b)]) for b in bodies]
    return out


def verdict(seq: list[dict]) -> list[dict]:
    store = http_auth.InMemoryNonceStore()
    out = []
    for r in seq:
        try:
            http_auth.verify(
                dict(r["headers"]),
                r["body"],
                method=r["method"],
                path=r["target"],
                self_hotkey_ss58=MINER,
                nonce_store=store,
                now_ns=r["now_ns"],
            )
            sdk = "ok"
        except http_auth.AuthError as e:
            sdk = type(e).__name__
        out.append(
            {
                **r,
                "body": base64.b64encode(r["body"]).decode(),
                "now_ns": str(r["now_ns"]),
                "sdk": sdk,
            }
        )
    return out


def main() -> None:
    json.dump(
        {
            "receiver": MINER,
            "cases": [{"name": n, "steps": verdict(s)} for n, s in corpus()],
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
