"""Calls an axon with the real bittensor 10.5 Dendrite and the satori_protocol classes, for
tests/protocol_sdk_test.ts: one TrainingTask (a typed TaskRequest), then TaskStatus and Capacity.

Reads {"axon": {"ip", "port", "hotkey"}, "mnemonic", "task": TaskRequest JSON} on stdin; prints a JSON
list, one entry per call: {"synapse", "status", "message", "sent_body" (the JSON the SDK posted),
"sdk_body_hash", "hash_fields", "reply" (model_dump, mode="json"), "reply_types" (Python type name of
each of the class's own fields after the SDK parsed the reply), "request_equal" (TrainingTask only:
the reply's task parses back into the request sent)}.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "protocol"))

import bittensor as bt
from bittensor.utils import networking
from bittensor_wallet import Keypair
from satori_protocol import TASK_REQUEST, Capacity, TaskStatus, TrainingTask

networking.get_external_ip = lambda: (
    "127.0.0.2"
)  # offline; not the axon's ip (see sdk_dendrite.py)
ENVELOPE = set(bt.Synapse.model_fields)


async def call(
    dendrite: bt.Dendrite, axon: bt.AxonInfo, synapse: bt.Synapse
) -> tuple[bt.Synapse, dict[str, Any]]:
    """dendrite.call(), keeping the body and body hash the SDK sent."""
    sent: dict[str, Any] = {}
    original = dendrite.preprocess_synapse_for_request

    def keep(*args: Any, **kwargs: Any) -> bt.Synapse:
        s = original(*args, **kwargs)
        sent.update(body=json.dumps(s.model_dump()), body_hash=s.body_hash)
        return s

    dendrite.preprocess_synapse_for_request = keep  # type: ignore[method-assign]
    try:
        reply = await dendrite.call(axon, synapse, timeout=12, deserialize=False)
    finally:
        dendrite.preprocess_synapse_for_request = original  # type: ignore[method-assign]
    return reply, sent


def report(reply: bt.Synapse, sent: dict[str, Any]) -> dict[str, Any]:
    own = [n for n in type(reply).model_fields if n not in ENVELOPE]
    return {
        "synapse": type(reply).__name__,
        "status": reply.dendrite.status_code,
        "message": reply.dendrite.status_message,
        "sent_body": sent["body"],
        "sdk_body_hash": sent["body_hash"],
        "hash_fields": list(type(reply).required_hash_fields),
        "reply": reply.model_dump(mode="json"),
        "reply_types": {n: type(getattr(reply, n)).__name__ for n in own},
    }


async def main() -> list[dict[str, Any]]:
    spec = json.load(sys.stdin)
    a = spec["axon"]
    axon = bt.AxonInfo(
        version=bt.settings.version_as_int,
        ip=a["ip"],
        port=a["port"],
        ip_type=4,
        hotkey=a["hotkey"],
        coldkey=a["hotkey"],
    )
    dendrite = bt.Dendrite(wallet=Keypair.create_from_mnemonic(spec["mnemonic"]))
    request = TASK_REQUEST.validate_python(spec["task"])
    try:
        task, sent = await call(dendrite, axon, TrainingTask.of(request))
        results = [{**report(task, sent), "request_equal": task.request() == request}]
        for synapse in (TaskStatus(task_id=request.id), Capacity()):
            results.append(report(*await call(dendrite, axon, synapse)))
    finally:
        await dendrite.aclose_session()
    return results


if __name__ == "__main__":
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # bittensor may log to stdout: keep it for the JSON only
    json.dump(asyncio.run(main()), out)
    out.close()
