"""Send one training task to a Satori miner and follow it to the end, as a validator would.

Sends a TrainingTask (the task read from --task-json, checked against the typed models first) with
the bittensor 10.x SDK's Dendrite, signed by your validator hotkey, then polls TaskStatus every
--poll seconds until the task is done, failed or rejected. Prints one line per state change on
stderr and, at the end, one JSON line on stdout:

  {"task_id": "...", "state": "done", "progress": 1.0, "result_repo": "org/lora", "reason": null}

Exit code: 0 when the task is done; 1 when it failed, was rejected or refused; 2 on a timeout or a
transport error (the miner did not answer 200).

  python example_validator.py --axon-ip 1.2.3.4 --axon-port 8091 --axon-hotkey 5F... \\
      --wallet-path ~/.bittensor/wallets --wallet-name validator --wallet-hotkey default \\
      --task-json task.json --timeout 3600
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

import bittensor as bt
from bittensor.utils import networking

try:
    from satori_protocol import TASK_REQUEST, TERMINAL_STATES, TaskStatus, TrainingTask
except ImportError:  # run from a checkout without `pip install ./protocol`
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from satori_protocol import TASK_REQUEST, TERMINAL_STATES, TaskStatus, TrainingTask


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--axon-ip", required=True, help="the miner's axon IP")
    p.add_argument("--axon-port", required=True, type=int, help="the miner's axon port")
    p.add_argument("--axon-hotkey", required=True, help="the miner's hotkey (ss58)")
    p.add_argument("--wallet-path", required=True, help="bittensor wallets folder")
    p.add_argument("--wallet-name", required=True, help="your validator wallet's name")
    p.add_argument(
        "--wallet-hotkey", required=True, help="your validator hotkey's name"
    )
    p.add_argument("--task-json", required=True, help="a TaskRequest as a JSON file")
    p.add_argument(
        "--timeout", type=float, default=3600.0, help="give up after S seconds"
    )
    p.add_argument("--poll", type=float, default=2.0, help="seconds between polls")
    p.add_argument(
        "--external-ip",
        help="your IP as the miner sees it (skips the SDK's lookup over the internet)",
    )
    return p.parse_args(argv)


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def final(line: dict[str, Any], code: int) -> int:
    print(json.dumps(line), flush=True)
    return code


async def run(args: argparse.Namespace, request: Any) -> int:
    wallet = bt.Wallet(
        name=args.wallet_name, hotkey=args.wallet_hotkey, path=args.wallet_path
    )
    axon = bt.AxonInfo(
        version=bt.settings.version_as_int,
        ip=args.axon_ip,
        port=args.axon_port,
        ip_type=4,
        hotkey=args.axon_hotkey,
        coldkey=args.axon_hotkey,
    )
    if args.external_ip:
        networking.get_external_ip = lambda: args.external_ip
    dendrite = bt.Dendrite(wallet=wallet)
    try:
        return await follow(dendrite, axon, request, args)
    finally:
        await dendrite.aclose_session()


async def follow(
    dendrite: bt.Dendrite, axon: bt.AxonInfo, request: Any, args: argparse.Namespace
) -> int:
    # 1. Send the task. The reply says whether the miner queued it.
    sent = await dendrite.call(
        axon, TrainingTask.of(request), timeout=12, deserialize=False
    )
    if not sent.is_success:
        log(
            f"TrainingTask: HTTP {sent.dendrite.status_code} {sent.dendrite.status_message}"
        )
        return final(
            {
                "task_id": request.id,
                "state": "error",
                "reason": sent.dendrite.status_message,
            },
            2,
        )
    if not sent.accepted:
        log(f"TrainingTask refused: {sent.reason}: {sent.message}")
        return final(
            {
                "task_id": request.id,
                "state": "refused",
                "reason": sent.reason,
                "message": sent.message,
            },
            1,
        )
    task_id = sent.task_id or request.id
    log(f"accepted {task_id!r} at queue position {sent.queue_position}")

    # 2. Poll TaskStatus until a terminal state (or the deadline).
    deadline = time.monotonic() + args.timeout
    last: tuple[str | None, float | None] = (None, None)
    status = TaskStatus(task_id=task_id)
    while time.monotonic() < deadline:
        status = await dendrite.call(
            axon, TaskStatus(task_id=task_id), timeout=12, deserialize=False
        )
        if not status.is_success:
            log(
                f"TaskStatus: HTTP {status.dendrite.status_code} {status.dendrite.status_message}"
            )
        elif (status.state, status.progress) != last:
            last = (status.state, status.progress)
            progress = "" if status.progress is None else f" {status.progress:.0%}"
            log(f"{task_id}: {status.state}{progress}")
            if status.state in TERMINAL_STATES or status.state == "not_found":
                break
        await asyncio.sleep(args.poll)

    # 3. The result: the LoRA's Hugging Face repo when done, the reason otherwise.
    line = {
        "task_id": task_id,
        "state": status.state if status.state in TERMINAL_STATES else "timeout",
        "progress": status.progress,
        "result_repo": status.result_repo,
        "reason": status.reason,
    }
    if status.state == "not_found":
        line["state"] = "not_found"
    return final(
        line, 0 if status.state == "done" else 1 if line["state"] != "timeout" else 2
    )


def main() -> None:
    args = parse_args()
    with open(args.task_json) as f:
        request = TASK_REQUEST.validate_python(
            json.load(f)
        )  # fails here, not at the miner
    # bittensor may log to stdout: keep stdout for the final JSON line only.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = out
    code = asyncio.run(run(args, request))
    out.flush()
    sys.exit(code)


if __name__ == "__main__":
    main()
