"""CLI: `python -m trainer run --task task.json --dataset DIR --out DIR [--resume] [--allow-remote-code]`.

stdout carries only JSON-lines events (events.py); logs go to stderr. Exit status 0 only after `done`;
any failure is one `error` event and status 1."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from pathlib import Path

from .config import ImageTrainingSpec, TextTrainingSpec, parse_spec
from .errors import TrainerError
from .events import claim_stdout, emit
from .util import Cancel

log = logging.getLogger("trainer")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m trainer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train one LoRA from a task spec")
    run.add_argument("--task", type=Path, required=True, help="task.json: a TrainingSpec (core/training.ts)")
    run.add_argument("--dataset", type=Path, required=True, help="dataset file or folder")
    run.add_argument("--out", type=Path, required=True, help="output folder (checkpoints, artifacts)")
    run.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    run.add_argument(
        "--allow-remote-code", action="store_true", help="let a task with trust_remote_code true run repo code"
    )
    return parser.parse_args(argv)


def read_task(path: Path) -> TextTrainingSpec | ImageTrainingSpec:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise TrainerError("config_invalid", f"Cannot read task file {str(path)!r}: {err.strerror}") from err
    except json.JSONDecodeError as err:
        raise TrainerError("config_invalid", f"Cannot parse task file {str(path)!r}: {err}") from err
    return parse_spec(raw)


def run(args: argparse.Namespace, cancel: Cancel) -> None:
    spec = read_task(args.task)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(spec, TextTrainingSpec):
        from .text import run_text

        run_text(spec, args.dataset.resolve(), out, args.resume, cancel, args.allow_remote_code)
    else:
        from .image import run_image

        run_image(spec, args.dataset.resolve(), out, args.resume, cancel)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        stream=sys.stderr,
        level=os.environ.get("TRAINER_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    args = parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))
    if rank != 0:  # under torchrun: no DDP yet, so only rank 0 trains (on its LOCAL_RANK GPU); the others stand down
        log.warning(
            "rank %d of %s: multi-GPU training is not implemented, only rank 0 trains",
            rank,
            os.environ.get("WORLD_SIZE"),
        )
        return 0
    claim_stdout()
    cancel = Cancel()
    cancel.install()
    try:
        run(args, cancel)
        return 0
    except TrainerError as err:
        log.error("%s: %s", err.code, err.message)
        emit("error", code=err.code, message=err.message)
    except Exception as err:
        import torch

        if isinstance(err, torch.cuda.OutOfMemoryError):
            emit("error", code="oom", message=f"Out of GPU memory: {str(err).splitlines()[0] if str(err) else err!r}")
        else:
            traceback.print_exc()
            emit("error", code="internal", message=f"{type(err).__name__}: {err}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
