"""Calls an axon with the real bittensor 10.5 `Dendrite` and our synapse classes, one case at a time.

Reads {"axon": {"ip", "port", "hotkey"}, "cases": [...]} on stdin and prints one JSON result per case.
A case is {"case", "mnemonic", "synapse", "fields"?, "timeout"?}; `case` is one of:

  call           dendrite.call(): the SDK's own request and reply parsing
  bad_signature  the SDK's request with one signature digit changed
  replay         dendrite.call(), then the very same request again (the result is the second reply)
  stale_nonce    a new dendrite's first request, signed with a nonce 60 s old
  tampered_body  the SDK's signed headers with one field of the body changed after signing

Every result is what the SDK's dendrite made of the reply: {"status", "message", "is_success",
"first_status" (call and replay: the first reply's status), "synapse" (model_dump, mode="json")}.
"""

import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "protocol"))

import bittensor as bt
from bittensor.utils import networking
from bittensor_wallet import Keypair
from satori_protocol import SYNAPSES

# Dendrite() asks web services for its external ip; tests run offline. Not 127.0.0.1: the SDK would
# then post to 0.0.0.0 instead of the axon's ip.
networking.get_external_ip = lambda: "127.0.0.2"


class Unknown(bt.Synapse):
    """A synapse our axon does not serve (404)."""


def make_synapse(case: dict) -> bt.Synapse:
    name = case["synapse"]
    # Any other name is a synapse our axon does not serve, named as asked (e.g. 10 000 characters).
    cls = SYNAPSES.get(name) or (
        Unknown if name == "Unknown" else type(name, (Unknown,), {})
    )
    return cls(**case.get("fields", {}))


async def raw_send(
    dendrite: bt.Dendrite,
    axon: bt.AxonInfo,
    synapse: bt.Synapse,
    headers: dict,
    body: dict,
) -> int:
    """What Dendrite.call does after preprocess, with the headers and body given; returns the HTTP status."""
    url = dendrite._get_endpoint_url(axon, request_name=synapse.__class__.__name__)
    async with (await dendrite.session).post(
        url=url, headers=headers, json=body
    ) as response:
        dendrite.process_server_response(response, await response.json(), synapse)
        return response.status


async def run_case(case: dict, axon: bt.AxonInfo) -> dict:
    keypair = Keypair.create_from_mnemonic(case["mnemonic"])
    dendrite = bt.Dendrite(wallet=keypair)
    timeout = case.get("timeout", 12.0)
    kind = case["case"]
    synapse = make_synapse(case)
    captured: dict = {}
    try:
        if kind in ("call", "replay"):
            original = dendrite.preprocess_synapse_for_request

            def keep(*args, **kwargs):
                s = original(*args, **kwargs)
                captured.update(headers=s.to_headers(), body=s.model_dump())
                return s

            dendrite.preprocess_synapse_for_request = keep
            synapse = await dendrite.call(
                axon, synapse, timeout=timeout, deserialize=False
            )
            captured["status"] = synapse.dendrite.status_code
            dendrite.preprocess_synapse_for_request = original
            if kind == "replay":
                synapse = make_synapse(case)
                synapse = dendrite.preprocess_synapse_for_request(
                    axon, synapse, timeout
                )
                await raw_send(
                    dendrite, axon, synapse, captured["headers"], captured["body"]
                )
        else:
            synapse = dendrite.preprocess_synapse_for_request(axon, synapse, timeout)
            d = synapse.dendrite
            if kind == "bad_signature":
                sig = d.signature
                d.signature = sig[:10] + ("1" if sig[10] == "0" else "0") + sig[11:]
            elif kind == "stale_nonce":
                d.nonce = time.time_ns() - 60_000_000_000
                message = f"{d.nonce}.{d.hotkey}.{synapse.axon.hotkey}.{d.uuid}.{synapse.body_hash}"
                d.signature = f"0x{keypair.sign(message).hex()}"
            headers, body = synapse.to_headers(), synapse.model_dump()
            if kind == "tampered_body":
                key = case["tamper"]
                body[key] = case["tamper_value"]
            await raw_send(dendrite, axon, synapse, headers, body)
    finally:
        await dendrite.aclose_session()
    return {
        "status": synapse.dendrite.status_code,
        "message": synapse.dendrite.status_message,
        "is_success": synapse.is_success,
        "first_status": captured.get("status"),
        "synapse": synapse.model_dump(mode="json"),
    }


async def main() -> None:
    request = json.load(sys.stdin)
    a = request["axon"]
    axon = bt.AxonInfo(
        version=bt.settings.version_as_int,
        ip=a["ip"],
        port=a["port"],
        ip_type=4,
        hotkey=a["hotkey"],
        coldkey=a["hotkey"],
    )
    results = []
    for case in request["cases"]:
        try:
            results.append({"ok": True, **await run_case(case, axon)})
        except Exception as e:  # noqa: BLE001 - reported per case, so one failure hides no other
            results.append({"ok": False, "error": f"{type(e).__name__}: {e}"})
    print(json.dumps(results))


if __name__ == "__main__":
    # bittensor logs to stdout on import in some setups: keep stdout for the JSON only.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = out
    asyncio.run(main())
    out.flush()
