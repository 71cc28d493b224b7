"""A bittensor 11 validator's side of tests/axon_btauth_sdk_test.ts: signs with the SDK's own
`bittensor.http_auth.sign` and calls a running miner over a socket (http.client: the request target goes
out exactly as given), then breaks what a case says to break after signing.

Reads JSON on stdin, prints JSON on stdout:
  {"op": "keys"} -> {name: ss58} for the test's hotkeys
  {"op": "send", "port", "receiver", "cases": [case]} -> [[{"status", "body", "retry_after"}, ...] per case]
A case: {"key", "method", "target", "body"} plus, optionally, "signed_target" / "signed_body" (what was
signed, when it differs from what is sent), "receiver" (null: none), "nonce_offset_s", "set" (headers
to set after signing; null removes) and "times" (sends of the same signed request: 2 is a replay).
"""

from __future__ import annotations

import http.client
import json
import sys
import time
from typing import Any

import bittensor_core as core
from bittensor import http_auth

KEYS = {
    "validator": core.Keypair.create_from_mnemonic(
        "old leopard transfer rib spatial phone calm indicate online fire caution review",
        core.CRYPTO_SR25519,
    ),
    "stranger": core.Keypair.create_from_uri("//Satori-stranger", core.CRYPTO_SR25519),
    "low_stake": core.Keypair.create_from_uri(
        "//Satori-low-stake", core.CRYPTO_SR25519
    ),
    "ed25519": core.Keypair.create_from_uri("//Satori-ed25519", core.CRYPTO_ED25519),
}


def send(port: int, receiver: str, case: dict[str, Any]) -> list[dict[str, Any]]:
    body = case.get("body", "").encode()
    signed_body = case["signed_body"].encode() if "signed_body" in case else body
    headers = http_auth.sign(
        KEYS[case["key"]],
        method=case["method"],
        path=case.get("signed_target", case["target"]),
        body=signed_body,
        receiver_ss58=case.get("receiver", receiver),
        nonce_ns=time.time_ns() + int(case.get("nonce_offset_s", 0) * 1e9),
    )
    for name, value in case.get("set", {}).items():
        headers.pop(name, None)
        if value is not None:
            headers[name] = value
    out = []
    for _ in range(case.get("times", 1)):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request(case["method"], case["target"], body=body or None, headers=headers)
        res = conn.getresponse()
        text = res.read().decode()
        out.append(
            {
                "status": res.status,
                "body": text,
                "retry_after": res.getheader("Retry-After"),
            }
        )
        conn.close()
    return out


def main() -> None:
    op = json.load(sys.stdin)
    if op["op"] == "keys":
        json.dump({name: kp.ss58_address for name, kp in KEYS.items()}, sys.stdout)
    else:
        json.dump(
            [send(op["port"], op["receiver"], c) for c in op["cases"]], sys.stdout
        )


if __name__ == "__main__":
    main()
