"""A real bittensor 10.5 `Axon` serving our synapses (protocol/satori_protocol.py), without a chain.

For the parity test (the SDK's own status codes and reply shapes) and bench/axon.ts (the baseline).
The blacklist accepts only the hotkeys given in --allow (as a metagraph would) and the priority is a
constant stake. Prints one JSON line {"port": N} once serving; stops when stdin closes.

  .venv-bt/bin/python tests/py/sdk_axon.py --mnemonic "<axon hotkey phrase>" --port 0 --allow 5F...
"""

import argparse
import json
import os
import socket
import sys
import types
from typing import Tuple  # noqa: UP035 - attach() compares with typing.Tuple exactly

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "protocol"))

import bittensor as bt
from bittensor_wallet import Keypair
from satori_protocol import Capacity, TaskStatus, TrainingTask


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_axon(mnemonic: str, port: int, allow: set[str]) -> bt.Axon:
    keypair = Keypair.create_from_mnemonic(mnemonic)
    wallet = types.SimpleNamespace(hotkey=keypair, coldkeypub=keypair)
    axon = bt.Axon(wallet=wallet, ip="127.0.0.1", port=port, external_ip="127.0.0.1")

    # attach() compares these signatures with `Tuple[bool, str]` / `float` exactly.
    def forward_task(synapse: TrainingTask) -> TrainingTask:
        synapse.accepted = True
        synapse.task_id = str((synapse.task or {}).get("id"))
        synapse.queue_position = 0
        return synapse

    def blacklist_task(synapse: TrainingTask) -> Tuple[bool, str]:  # noqa: UP006
        return synapse.dendrite.hotkey not in allow, "Unrecognized hotkey"

    def priority_task(synapse: TrainingTask) -> float:
        return 5000.0

    def forward_status(synapse: TaskStatus) -> TaskStatus:
        synapse.state = "queued"
        return synapse

    def blacklist_status(synapse: TaskStatus) -> Tuple[bool, str]:  # noqa: UP006
        return synapse.dendrite.hotkey not in allow, "Unrecognized hotkey"

    def forward_capacity(synapse: Capacity) -> Capacity:
        synapse.total_gpus, synapse.free_gpus, synapse.gpu_vram_mb = (
            2,
            1,
            [81559, 81559],
        )
        synapse.queue_length, synapse.queue_max = 0, 100
        return synapse

    def blacklist_capacity(synapse: Capacity) -> Tuple[bool, str]:  # noqa: UP006
        return synapse.dendrite.hotkey not in allow, "Unrecognized hotkey"

    axon.attach(forward_task, blacklist_task, priority_task)
    axon.attach(forward_status, blacklist_status)
    axon.attach(forward_capacity, blacklist_capacity)
    return axon


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mnemonic", required=True, help="the axon's hotkey phrase")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--allow", nargs="*", default=[], help="hotkeys the blacklist lets in"
    )
    args = parser.parse_args()
    port = args.port or free_port()
    axon = build_axon(args.mnemonic, port, set(args.allow))
    axon.start()
    print(json.dumps({"port": port}), flush=True)
    sys.stdin.read()  # until the parent closes stdin
    axon.stop()


if __name__ == "__main__":
    main()
