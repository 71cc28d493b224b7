"""btauth/1 across SDK generations: satori_protocol signs on 10.x, bittensor 11's own verify checks it.

bittensor 10.x has no `http_auth`, so satori_protocol signs the task API's requests (cancel) with the
hotkey keypair itself. Reads JSON on stdin, prints JSON on stdout:

  .venv-bt   : {"op": "sign", "receiver", "requests": [{"method", "target", "body"}]}
               -> [{"method", "target", "body", "headers"}] signed by sr25519 and ed25519 hotkeys
  .venv-bt11 : {"op": "verify", "receiver", "signed": [...]} -> [{"ok": bool, "error"?, "hotkey"?}]
               each through `bittensor.http_auth.verify` (the body is UTF-8 text in the JSON)
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "protocol"))

PHRASE = "stool vivid uncover slot bunker mention gate lunch guitar trust insane jar"


def sign(op: dict[str, Any]) -> list[dict[str, Any]]:
    from bittensor_wallet import Keypair
    from satori_protocol.btauth import keypair_signer

    out = []
    for crypto_type in (1, 0):
        kp = Keypair.create_from_mnemonic(PHRASE, crypto_type=crypto_type)
        signer = keypair_signer(kp, op["receiver"])
        for r in op["requests"]:
            headers = signer(r["method"], r["target"], r["body"].encode())
            out.append({**r, "headers": headers})
    return out


def verify(op: dict[str, Any]) -> list[dict[str, Any]]:
    from bittensor import http_auth

    store = http_auth.InMemoryNonceStore()
    out = []
    for s in op["signed"]:
        try:
            caller = http_auth.verify(
                s["headers"],
                s["body"].encode(),
                method=s["method"],
                path=s["target"],
                self_hotkey_ss58=op["receiver"],
                nonce_store=store,
            )
            out.append({"ok": True, "hotkey": caller.hotkey_ss58})
        except http_auth.AuthError as e:
            out.append({"ok": False, "error": type(e).__name__})
    return out


if __name__ == "__main__":
    request = json.load(sys.stdin)
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # bittensor may log to stdout: keep it for the JSON only
    json.dump({"sign": sign, "verify": verify}[request["op"]](request), out)
    out.close()
