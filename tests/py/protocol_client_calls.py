"""Every satori_protocol.MinerClient call against a running miner axon, on the installed SDK.

Reads JSON on stdin: {"axon": {"ip", "port", "hotkey"}, "wallet": {"path", "name", "hotkey"},
"task": a TaskRequest, "transport"?: "btauth" | "synapse"}. Calls, in order: submit, submit again,
status, capacity, cancel, cancel again, status of an unknown id, cancel of an unknown id. Prints one
JSON list on stdout, one entry per call: {"call", "ok": true, "result"} or {"call", "ok": false,
"code", "status", "message", "details", "refusal"}, and first {"transport", "sdk"}.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "protocol"))

import bittensor as bt
from satori_protocol import SDK_VERSION, MinerClient, SatoriError


async def calls(op: dict[str, Any]) -> list[dict[str, Any]]:
    w = op["wallet"]
    wallet = bt.Wallet(name=w["name"], hotkey=w["hotkey"], path=w["path"])
    axon = op["axon"]
    task_id = op["task"]["id"]
    async with MinerClient(
        wallet,
        f"{axon['ip']}:{axon['port']}",
        hotkey=axon["hotkey"],
        transport=op.get("transport"),
        external_ip="127.0.0.2",
        timeout=10,
    ) as miner:
        out: list[dict[str, Any]] = [{"transport": miner.transport, "sdk": SDK_VERSION}]
        steps = [
            ("submit", lambda: miner.submit_task(op["task"])),
            ("submit again", lambda: miner.submit_task(op["task"])),
            ("status", lambda: miner.task_status(task_id)),
            ("capacity", miner.capacity),
            ("cancel", lambda: miner.cancel(task_id)),
            ("cancel again", lambda: miner.cancel(task_id)),
            ("status unknown", lambda: miner.task_status("no-such-task")),
            ("cancel unknown", lambda: miner.cancel("no-such-task")),
        ]
        for name, call in steps:
            try:
                result = await call()
                out.append(
                    {"call": name, "ok": True, "result": result.model_dump(mode="json")}
                )
            except SatoriError as e:
                out.append(
                    {
                        "call": name,
                        "ok": False,
                        "code": e.code,
                        "status": e.status,
                        "message": e.message,
                        "details": e.details,
                        "refusal": e.refusal,
                    }
                )
        return out


if __name__ == "__main__":
    request = json.load(sys.stdin)
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # bittensor may log to stdout: keep it for the JSON only
    json.dump(asyncio.run(calls(request)), out)
    out.close()
