"""CLI: `python -m trainer run --task task.json --dataset DIR --out DIR [--resume] [--allow-remote-code]`,
also under torchrun (data parallel, parallel.py); `python -m trainer tiny --kind text|image --out DIR`;
`python -m trainer prefetch --cache-dir DIR --model ID ...` (cache.py); `python -m trainer envcheck` (envcheck.py);
`python -m trainer remote --fetch URL --put URL --work DIR --name NAME [--resume]` (remote.py: a Ray job's entrypoint).

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
from typing import TYPE_CHECKING

from .cancel import Cancel
from .config import ImageTrainingSpec, TextTrainingSpec, parse_spec
from .errors import TrainerError
from .events import claim_stdout, report_error
from .lifeline import watch_parent

if TYPE_CHECKING:
    from .parallel import Parallel

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
    tiny = sub.add_parser("tiny", help="build a tiny model and a toy dataset for local mode (CPU, seconds)")
    tiny.add_argument("--kind", choices=("text", "image"), required=True, help="tiny Llama or tiny FLUX")
    tiny.add_argument("--out", type=Path, required=True, help="folder for model/ and dataset/")
    pre = sub.add_parser("prefetch", help="download base models into the shared cache (resumable, verified)")
    pre.add_argument("--cache-dir", type=Path, required=True, help="the Hugging Face cache folder (HF_HUB_CACHE)")
    pre.add_argument("--model", action="append", required=True, help="a Hub model id; repeat for more")
    pre.add_argument("--revision", default="main", help="branch, tag or commit (default: main)")
    pre.add_argument("--endpoint", default=None, help="the Hub's address (default: HF_ENDPOINT or the Hub)")
    pre.add_argument("--chunk-bytes", type=int, default=1024 * 1024, help="bytes written at a time: a kill loses less")
    pre.add_argument("--plan", action="store_true", help="only say what would be fetched (prefetch_start events)")
    sub.add_parser("envcheck", help="report library versions and GPUs as JSON (for `main.ts doctor`)")
    rem = sub.add_parser("remote", help="a Ray job's entrypoint: fetch task and dataset, run, return artifacts")
    rem.add_argument("--fetch", required=True, help="base URL (ending in /) of task.json, manifest.json, dataset/")
    rem.add_argument("--put", required=True, help="base URL (ending in /) that takes PUT out/<artifact path>")
    rem.add_argument("--work", type=Path, required=True, help="this node's work folder; the task uses WORK/NAME/")
    rem.add_argument("--name", required=True, help="the task's folder name, chosen by the miner")
    rem.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in WORK/NAME/out")
    rem.add_argument("--allow-remote-code", action="store_true", help="passed on to `run`")
    rem.add_argument("--nprocs", type=int, default=1, help="GPUs Ray gave the job: above 1, `run` goes under torchrun")
    rem.add_argument(
        "--return-within-s",
        type=float,
        default=600.0,
        help="how long to keep retrying the artifacts' return to the miner (it may be restarting)",
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


def run(args: argparse.Namespace, cancel: Cancel, par: Parallel) -> None:
    spec = read_task(args.task)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(spec, TextTrainingSpec):
        from .text import run_text

        run_text(spec, args.dataset.resolve(), out, args.resume, cancel, par, args.allow_remote_code)
    else:
        from .image import run_image

        run_image(spec, args.dataset.resolve(), out, args.resume, cancel, par)


def failure_of(err: BaseException) -> tuple[str, str]:
    """(code, message) of the `error` event for an exception."""
    import torch

    if isinstance(err, TrainerError):
        return err.code, err.message
    if isinstance(err, torch.cuda.OutOfMemoryError):
        return "oom", f"Out of GPU memory: {str(err).splitlines()[0] if str(err) else err!r}"
    traceback.print_exc()
    return "internal", f"{type(err).__name__}: {err}"


def conclude(par: Parallel, failure: tuple[str, str] | None) -> int:
    """Exit status of this rank; rank 0 writes the one `error` event, preferring a peer's root cause."""
    from .parallel import SECONDARY, pick_failure

    if failure is None:
        try:
            par.barrier()  # ranks > 0 wait here while rank 0 checks quality and writes the artifacts
            par.close()
        except Exception as err:
            log.warning("shutting down the process group: %s", err)
        return 0
    log.error("%s: %s", *failure)
    if not par.main:
        par.report_failure(*failure)
        return 1
    peer = par.peer_failure(wait_s=3.0 if par.active and failure[0] in SECONDARY else 0.0)
    report_error(*pick_failure(failure, peer))
    return 1


def setup_logging(tag: str) -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=os.environ.get("TRAINER_LOG_LEVEL", "INFO"),
        format=f"%(asctime)s %(name)s{tag} %(levelname)s %(message)s",
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "remote":  # before Parallel: the wrapper never imports torch
        setup_logging("")
        from .remote import remote_command

        return remote_command(
            args.fetch,
            args.put,
            args.work,
            args.name,
            args.resume,
            args.allow_remote_code,
            args.nprocs,
            args.return_within_s,
        )
    from .parallel import Parallel

    par = Parallel.from_env()
    setup_logging(f" rank {par.rank}" if par.active else "")
    if args.command == "tiny":
        from .tiny import tiny_command

        return tiny_command(args.kind, args.out)
    if args.command == "prefetch":
        from .cache import prefetch_command

        return prefetch_command(args.model, args.cache_dir, args.revision, args.endpoint, args.chunk_bytes, args.plan)
    if args.command == "envcheck":
        from .envcheck import envcheck_command

        return envcheck_command()
    claim_stdout(muted=not par.main)
    cancel = Cancel()
    cancel.install()
    watch_parent()  # every rank: an orphan (the miner or a raylet killed -9) must not keep its GPU
    failure = None
    try:
        par.init()
        par.watch(report_error)
        run(args, cancel, par)
    except Exception as err:
        failure = failure_of(err)
    cancel.ending()  # torchrun's SIGTERM after a peer died must not interrupt the one error event
    return conclude(par, failure)


if __name__ == "__main__":
    sys.exit(main())
