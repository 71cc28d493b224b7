"""Data parallelism under `python -m torch.distributed.run --nproc_per_node N -m trainer run …` (torchrun).

Every rank holds the same model and LoRA, runs its own micro-batches and all-reduces the LoRA gradients
once per optimizer step (one flat bucket per dtype; LoRA gradients are small, so not overlapping it with
backward costs little, and it needs no wrapper around peft or diffusers models). Micro-batch k of step s
on rank r is the run's micro-batch `(s * accum + k) * world + r`, so N ranks with `gradient_accumulation`
a see exactly the micro-batches, gradients and losses of one process with accumulation a·N.

Rank 0 alone writes events, checkpoints and artifacts and runs the quality check; the others wait at a
barrier. A rank that fails writes its error into torchrun's TCP store; rank 0 reports it as the one
`error` event (a watchdog thread does so even while rank 0 is stuck in a collective with a dead peer).
Without torchrun (WORLD_SIZE unset or 1) every method is a no-op and nothing is initialised."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from datetime import timedelta
from typing import Any

import torch

log = logging.getLogger("trainer")
WAIT_FOR_RANK0 = timedelta(hours=2)  # the quality check (image sampling) runs on rank 0 while the others wait
WATCHDOG_GRACE_S = 5.0  # time rank 0 gets to fail on its own before the watchdog reports a peer's error


class Parallel:
    def __init__(self, rank: int = 0, world: int = 1, local_rank: int = 0) -> None:
        self.rank, self.world, self.local_rank = rank, world, local_rank
        self.cpu_group: Any = None
        self.store: Any = None
        self.prefix = ""

    @classmethod
    def from_env(cls) -> Parallel:
        env = os.environ
        return cls(int(env.get("RANK", "0")), int(env.get("WORLD_SIZE", "1")), int(env.get("LOCAL_RANK", "0")))

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    # ---- lifecycle ---------------------------------------------------------------------------------------
    def init(self) -> None:
        """Join the process group: nccl on CUDA (each rank on its LOCAL_RANK GPU), gloo on the CPU."""
        if not self.active:
            return
        import torch.distributed as dist

        self.store = self._store_client()
        device = None
        if torch.cuda.is_available():
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device is not None else "gloo", device_id=device)
        self.cpu_group = dist.new_group(backend="gloo", timeout=WAIT_FOR_RANK0)
        log.info("rank %d of %d on %s", self.rank, self.world, device or "cpu")

    def _store_client(self) -> Any:
        import torch.distributed as dist

        env = os.environ
        self.prefix = f"trainer/{env.get('TORCHELASTIC_RUN_ID', '')}/{env.get('TORCHELASTIC_RESTART_COUNT', '0')}/"
        return dist.TCPStore(
            env["MASTER_ADDR"], int(env["MASTER_PORT"]), is_master=False, timeout=timedelta(seconds=60),
            wait_for_workers=False,
        )  # fmt: skip

    def close(self) -> None:
        import torch.distributed as dist

        if self.active and dist.is_initialized():
            dist.destroy_process_group()

    def barrier(self) -> None:
        """Wait on the CPU (gloo) until every rank gets here: no GPU kernel spins while rank 0 works."""
        if self.active:
            import torch.distributed as dist

            dist.barrier(group=self.cpu_group)

    # ---- training collectives ----------------------------------------------------------------------------
    def sync_params(self, params: list[torch.nn.Parameter], seed: int, resumed: bool) -> None:
        """Start every rank from rank 0's LoRA weights; give ranks > 0 their own RNG stream (dropout, noise)."""
        if not self.active:
            return
        import torch.distributed as dist

        from .rng import seed_all

        with torch.no_grad():
            for p in params:
                dist.broadcast(p.data, src=0)
        if self.rank and not resumed:
            seed_all(seed + self.rank)

    def average_grads(self, params: list[torch.nn.Parameter]) -> None:
        if not self.active:
            return
        import torch.distributed as dist

        by_dtype: dict[torch.dtype, list[torch.nn.Parameter]] = {}
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            by_dtype.setdefault(p.grad.dtype, []).append(p)
        for group in by_dtype.values():
            flat = torch.cat([p.grad.reshape(-1) for p in group])
            dist.all_reduce(flat)
            flat /= self.world
            offset = 0
            for p in group:
                n = p.grad.numel()
                p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
                offset += n

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.active:
            import torch.distributed as dist

            dist.all_reduce(tensor)
        return tensor

    def min_(self, value: float) -> float:
        """The smallest `value` over all ranks (the same on every rank)."""
        if not self.active:
            return value
        import torch.distributed as dist

        tensor = torch.tensor([value], dtype=torch.float64).to(self._device())
        dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
        return float(tensor.item())

    def any(self, flag: bool) -> bool:
        """True on every rank when it is True on any rank."""
        if not self.active:
            return flag
        return bool(self.sum_(torch.tensor([float(flag)]).to(self._device())).item() > 0)

    def gather(self, obj: Any) -> Any:
        """Single process: `obj`. Under torchrun: the list of every rank's `obj` on rank 0, None elsewhere."""
        if not self.active:
            return obj
        import torch.distributed as dist

        out: list[Any] | None = [None] * self.world if self.main else None
        dist.gather_object(obj, out, dst=0, group=self.cpu_group)
        return out

    def rng_of_rank(self, saved: Any) -> Any:
        return saved[self.rank] if isinstance(saved, list) else saved

    def _device(self) -> torch.device:
        return torch.device("cuda", self.local_rank) if torch.cuda.is_available() else torch.device("cpu")

    # ---- failures ----------------------------------------------------------------------------------------
    def report_failure(self, code: str, message: str) -> None:
        """On a rank > 0: leave the error where rank 0 will find it."""
        if self.store is None:
            return
        try:
            self.store.set(f"{self.prefix}error/{self.rank}", json.dumps({"code": code, "message": message}))
            self.store.set(f"{self.prefix}error", str(self.rank))
        except Exception as err:  # the store may be gone when torchrun is already shutting down
            log.warning("cannot report the error to rank 0: %s", err)

    def peer_failure(self, wait_s: float = 0.0) -> tuple[str, str] | None:
        """(code, message) of the first rank > 0 that failed, waiting up to `wait_s` for one to say so."""
        if self.store is None:
            return None
        try:
            if wait_s > 0:
                self.store.wait([f"{self.prefix}error"], timedelta(seconds=wait_s))
            elif not self.store.check([f"{self.prefix}error"]):
                return None
            return self._read_failure(self.store)
        except Exception:
            return None

    def _read_failure(self, store: Any) -> tuple[str, str]:
        rank = store.get(f"{self.prefix}error").decode()
        found = json.loads(store.get(f"{self.prefix}error/{rank}").decode())
        return found["code"], f"rank {rank}: {found['message']}"

    def watch(self, report: Any) -> None:
        """Rank 0: a daemon thread that, once a peer has failed and rank 0 has not ended within the grace
        period (e.g. it waits in an NCCL collective for the dead peer), reports the peer's error and exits."""
        if not (self.active and self.main):
            return

        def run() -> None:
            try:
                store = self._store_client()
                store.wait([f"{self.prefix}error"], timedelta(days=30))
                time.sleep(WATCHDOG_GRACE_S)
                code, message = self._read_failure(store)
            except Exception:
                return
            if report(code, message):
                log.error("%s: %s (rank 0 was still blocked; exiting)", code, message)
                os._exit(1)

        threading.Thread(target=run, name="peer-failure-watchdog", daemon=True).start()


SECONDARY = ("cancelled", "internal")


def pick_failure(own: tuple[str, str], peer: tuple[str, str] | None) -> tuple[str, str]:
    """Rank 0's own error, unless it is only the echo of a peer's failure (torchrun's SIGTERM after a peer
    died, or a broken collective) and the peer has a more telling one."""
    if peer is not None and own[0] in SECONDARY and (own[0] == "internal" or peer[0] != "cancelled"):
        return peer
    return own
