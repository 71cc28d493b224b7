"""Send one training task to a Satori miner and follow it to the end, as a validator would.

Runs on bittensor 10.x or 11.x, whichever is installed (satori_protocol.MinerClient picks): on 11.x
it calls the miner's task API signed with `bittensor.http_auth` (btauth/1), on 10.x it sends the
TrainingTask and TaskStatus synapses with the SDK's Dendrite. Either way it is signed by your
validator hotkey. It sends the task read from --task-json (checked against the typed models first),
then polls the task's status every --poll seconds until it is done, failed or rejected. Prints one
line per state change on stderr and, at the end, one JSON line on stdout:

  {"task_id": "...", "state": "done", "progress": 1.0, "result_repo": "org/lora", "reason": null}

Exit code: 0 when the task is done; 1 when it failed, was rejected or refused; 2 on a timeout or a
transport or authentication error.

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

try:
    from satori_protocol import TASK_REQUEST, MinerClient, SatoriError, TaskInfo
except ImportError:  # run from a checkout without `pip install ./protocol`
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from satori_protocol import TASK_REQUEST, MinerClient, SatoriError, TaskInfo


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
        help="10.x: your IP as the miner sees it (skips the SDK's lookup over the internet)",
    )
    p.add_argument(
        "--transport",
        choices=("btauth", "synapse"),
        help="force the task API (btauth) or the synapses (10.x only); default: by the SDK",
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
    async with MinerClient(
        wallet,
        f"{args.axon_ip}:{args.axon_port}",
        hotkey=args.axon_hotkey,
        transport=args.transport,
        external_ip=args.external_ip,
    ) as miner:
        log(f"bittensor {bt.__version__}: sending over {miner.transport}")
        return await follow(miner, request, args)


async def follow(miner: MinerClient, request: Any, args: argparse.Namespace) -> int:
    # 1. Send the task. A refusal (queue full, invalid, duplicate, ...) and a failure both raise.
    try:
        sent = await miner.submit_task(request)
    except SatoriError as e:
        log(f"submit_task: {e}")
        state = "refused" if e.refusal else "error"
        line = {"task_id": request.id, "state": state, "reason": e.code}
        return final({**line, "message": e.message}, 1 if e.refusal else 2)
    log(f"accepted {sent.task_id!r} at queue position {sent.queue_position}")

    # 2. Poll the task's status until a terminal state (or the deadline).
    deadline = time.monotonic() + args.timeout
    last: tuple[str, float | None] | None = None
    info = TaskInfo(task_id=sent.task_id, state="received")
    while time.monotonic() < deadline:
        try:
            info = await miner.task_status(sent.task_id)
        except SatoriError as e:
            if e.code == "not_found":
                log(f"{sent.task_id}: not_found")
                line = {"task_id": sent.task_id, "state": "not_found", "progress": None}
                return final({**line, "result_repo": None, "reason": e.message}, 1)
            # A miner restarting an actor answers 503 (unavailable): poll again.
            log(f"task_status: {e}")
        else:
            if (info.state, info.progress) != last:
                last = (info.state, info.progress)
                progress = "" if info.progress is None else f" {info.progress:.0%}"
                log(f"{sent.task_id}: {info.state}{progress}")
            if info.terminal:
                break
        await asyncio.sleep(args.poll)

    # 3. The result: the LoRA's Hugging Face repo when done, the reason otherwise.
    line = info.model_dump(mode="json")
    if not info.terminal:
        line["state"] = "timeout"
    return final(line, 0 if info.state == "done" else 1 if info.terminal else 2)


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
