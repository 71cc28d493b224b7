"""GPU check (issue 17): speed and memory of real-size training in one command, against a
bare baseline in the same run. Builds the full-size FLUX.1-dev transformer and a 7B text
model (Qwen2.5-7B's shape) from their configs with random bf16 weights (no download), times
our trainer's step code and the bare loop (bench/gpu_cases.py) at 512 and 1024 px and at
seq 2048, per memory mode, and prints one Markdown table for bench/RESULTS.md: s/step,
images or real tokens per second, peak allocated and reserved GiB, speed vs the baseline.

    python bench/gpu_check.py           # one GPU; sized for 8 min on an H200 (--budget-s)
    python bench/gpu_check.py --smoke   # the same code, tiny configs, CPU (CI runs it)

It uses the torch, transformers, peft and accelerate it finds. diffusers, when missing,
comes from the wheel in bench/wheels/ (pure Python); a missing Pillow is stubbed, since no
image is made here. Each case runs alone: running out of memory or any other failure
becomes its row's note and the run goes on (the smoke run then exits 1)."""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import platform
import sys
import tempfile
import time
import types
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import torch

from trainer import attention, speed

WHEELS = ROOT / "bench" / "wheels"
GOALS = (
    "FLUX bf16 <= 0.6 s/step at 1024 px and <= 0.2 at 512, faster than the baseline; "
    "24 GB mode (fp8+ckpt, 1024 px) peak <= 22 GiB; text >= 12 500 tok/s at seq 2048, "
    "padding-free >= 1.5x padded"
)


class _Stub(type):
    """Any attribute of a stand-in is another stand-in class (usable in `str | X` hints)."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Stub(name, (), {})


class _Anything(types.ModuleType):
    """Stands in for Pillow, which diffusers imports at load time and this never calls."""

    __version__ = "10.0.0"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # __file__, __path__ ...: absent, as inspect expects
            raise AttributeError(name)
        return _Stub(name, (), {})


def ensure_diffusers() -> str:
    """Import diffusers, from the vendored wheel (unzipped to a temp folder) if missing."""
    source = "installed"
    try:
        import PIL  # noqa: F401
    except ImportError:
        for name in ("PIL", "PIL.Image", "PIL.ImageOps", "PIL.ImageFilter"):
            sys.modules[name] = _Anything(name)
        source += ", Pillow stubbed"
    try:
        import diffusers
    except ImportError:
        wheels = sorted(WHEELS.glob("diffusers-*.whl"))
        if not wheels:
            raise SystemExit(
                f"Cannot run: no diffusers installed, no wheel in {WHEELS}"
            ) from None
        target = Path(tempfile.mkdtemp(prefix="gpu-check-diffusers-"))
        with zipfile.ZipFile(wheels[-1]) as whl:
            whl.extractall(target)
        sys.path.insert(0, str(target))
        source = source.replace("installed", f"vendored {wheels[-1].name}")
        import diffusers
    return f"diffusers {diffusers.__version__} ({source})"


@dataclass
class Row:
    section: str
    case: str
    size: str
    mode: str
    s_per_step: float | None = None
    per_s: float | None = None  # images/s or real tokens/s
    unit: str = ""
    alloc_gib: float | None = None
    reserved_gib: float | None = None
    vs_baseline: float | None = None  # our throughput over the baseline's (> 1: faster)
    note: str = ""


class Check:
    def __init__(self, args: argparse.Namespace) -> None:
        import gpu_cases as g

        self.smoke = args.smoke
        cuda = torch.cuda.is_available() and not args.smoke
        device = torch.device("cuda", 0) if cuda else torch.device("cpu")
        backend = "inductor" if cuda else "eager"  # eager: no C++ toolchain on the CPU
        dtype = torch.bfloat16 if cuda else torch.float32
        self.r = g.Run(device, dtype, args.steps, args.warmup, backend)
        self.rc = g.Run(
            device, dtype, args.steps, args.warmup + 2, backend
        )  # compiling
        self.sizes = g.TINY if args.smoke else g.FULL
        self.budget = args.budget_s
        self.start = time.perf_counter()
        self.rows: list[Row] = []
        self.baselines: dict[tuple[str, str], Row] = {}
        if self.smoke:
            torch.set_num_threads(
                min(2, torch.get_num_threads())
            )  # CI's small shared box

    def run(self, row: Row, fn: Callable[[], Any], unit: str) -> None:
        """Time one case into `row`; a failure or the spent budget becomes its note."""
        self.rows.append(row)
        if row.case.startswith("baseline"):
            self.baselines[(row.section, row.size)] = row
        if time.perf_counter() - self.start > self.budget:
            row.note = "skipped: time budget spent"
            return
        cuda = self.r.device.type == "cuda"
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        began = time.perf_counter()
        try:
            timed = fn()
            row.s_per_step, row.unit = timed.step_s, unit
            row.per_s = timed.per_step / timed.step_s
            base = self.baselines.get((row.section, row.size))
            if base is not row and base is not None and base.per_s:
                row.vs_baseline = row.per_s / base.per_s
        except torch.cuda.OutOfMemoryError as err:
            row.note = f"out of memory: {str(err).splitlines()[0][:100]}"
        except Exception as err:  # noqa: BLE001 - a broken case must not cost the rest
            row.note = f"{type(err).__name__}: {str(err)[:160]}".splitlines()[0]
        if cuda:
            row.alloc_gib = torch.cuda.max_memory_allocated() / 2**30
            row.reserved_gib = torch.cuda.max_memory_reserved() / 2**30
        row.note = f"{row.note} ({time.perf_counter() - began:.0f} s)".strip()
        gc.collect()


def cases(c: Check, compiled: bool) -> list[tuple[Row, Callable[[], Any], str]]:
    """Most telling first, torch.compile last: a run that hits the budget loses the least."""
    import gpu_cases as g

    s, small, large = c.sizes, *c.sizes.resolutions
    seq, prec = f"seq {s.seq}", "bf16" if c.r.dtype == torch.bfloat16 else "fp32"

    def flux(
        res: int, q: str = "none", ckpt: bool = False, per_forward: int = 1
    ) -> Any:
        mode = (prec if q == "none" else q) + ("+ckpt" if ckpt else "")
        label = "ours" + (
            f", {per_forward} images per forward" if per_forward > 1 else ""
        )
        fn = partial(g.flux_ours, s, res, c.r, q, ckpt, per_forward=per_forward)
        return Row("FLUX", label, f"{res} px", mode), fn, "img/s"

    def text(label: str, pf: bool, packed: bool = False, ckpt: bool = False) -> Any:
        fn = partial(g.text_ours, s, c.r, pf, packed, ckpt)
        return Row("text", label, seq, prec + ("+ckpt" if ckpt else "")), fn, "tok/s"

    if compiled:
        label = f"ours, torch.compile ({c.r.backend})"
        text_c = partial(g.text_ours, s, c.rc, compiled=True)
        out = [(Row("text", f"{label}, padding-free", seq, prec), text_c, "tok/s")]
        for res in (large, small):
            flux_c = partial(g.flux_ours, s, res, c.rc, compiled=True)
            out.append((Row("FLUX", label, f"{res} px", prec), flux_c, "img/s"))
        return out
    out = []
    for res in (large, small):
        base = Row("FLUX", "baseline (diffusers script loop)", f"{res} px", prec)
        out += [(base, partial(g.flux_baseline, s, res, c.r), "img/s")]
        out += [flux(res), flux(res, "fp8", True)]
    out += [flux(large, ckpt=True), flux(small, ckpt=True), flux(small, "fp8")]
    out += [flux(small, per_forward=4)]
    base = Row("text", "baseline (transformers + peft, padded)", seq, prec)
    out += [(base, partial(g.text_baseline, s, c.r), "tok/s")]
    out += [text("ours, padded", False), text("ours, padding-free", True)]
    out += [text("ours, packed + padding-free", True, True)]
    return out + [text("ours, padding-free", True, ckpt=True)]


def fmt(x: float | None) -> str:
    return "" if x is None else f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def table(rows: list[Row]) -> str:
    cols = "section | case | size | mode | s/step | per s | peak alloc GiB | "
    cols += "peak reserved GiB | vs baseline | note"
    lines = [f"| {cols} |", "|" + "---|" * 10]
    for r in rows:
        per_s = f"{fmt(r.per_s)} {r.unit}" if r.per_s else ""
        vs = f"{r.vs_baseline:.2f}x" if r.vs_baseline else ""
        cells = [r.section, r.case, r.size, r.mode, fmt(r.s_per_step), per_s]
        cells += [fmt(r.alloc_gib), fmt(r.reserved_gib), vs, r.note]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def header(c: Check, diffusers: str) -> str:
    import peft
    import transformers

    dev = c.r.device
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    where += f" ({platform.machine()})"
    kind = (
        "SMOKE RUN: tiny configs on the CPU, figures mean nothing"
        if c.smoke
        else "full size"
    )
    libs = f"torch {torch.__version__}, transformers {transformers.__version__}, "
    libs += f"peft {peft.__version__}, {diffusers}"
    steps = f"medians of {c.r.steps} steps after {c.r.warmup} warm-up (compiled: +2)"
    varlen = attention.torch_varlen_works(dev, c.r.dtype)
    kernel = (
        "flash-attn"
        if speed.flash_installed() and dev.type == "cuda"
        else ("torch varlen kernel" if varlen else "per-sample SDPA")
    )
    steps += f"; padding-free attention: {kernel}"
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return f"GPU check, {when}, {where}, {kind}\n{libs}; {steps}\ngoals: {GOALS}"


def verdicts(c: Check) -> list[str]:
    """Each goal of the issue against the rows that measure it (GPU runs only)."""
    if c.smoke:
        return ["verdicts: none on a smoke run"]
    rows = {(r.section, r.case, r.size, r.mode): r for r in c.rows}
    small, large = c.sizes.resolutions

    def get(*key: str) -> Row | None:
        r = rows.get(key)
        return r if r is not None and r.s_per_step is not None else None

    out = []
    for res, goal in ((large, 0.6), (small, 0.2)):
        r = get("FLUX", "ours", f"{res} px", "bf16")
        if r:
            vs = (
                f"{r.vs_baseline:.2f}x the baseline" if r.vs_baseline else "no baseline"
            )
            ok = r.s_per_step <= goal and (r.vs_baseline or 0) > 1
            out.append(
                f"FLUX {res} px bf16: {r.s_per_step:.3f} s/step (goal <= {goal}), {vs}: {'met' if ok else 'NOT met'}"
            )
    r = get("FLUX", "ours", f"{large} px", "fp8+ckpt")
    if r and r.alloc_gib is not None:
        ok = "met" if r.alloc_gib <= 22 else "NOT met"
        out.append(
            f"24 GB mode: peak {r.alloc_gib:.1f} GiB allocated, {r.reserved_gib:.1f} reserved (goal <= 22): {ok}"
        )
    seq = f"seq {c.sizes.seq}"
    free, padded = (
        get("text", "ours, padding-free", seq, "bf16"),
        get("text", "ours, padded", seq, "bf16"),
    )
    if free and free.per_s:
        out.append(
            f"text padding-free: {free.per_s:,.0f} tok/s (goal >= 12 500): {'met' if free.per_s >= 12_500 else 'NOT met'}"
        )
    if free and padded and free.per_s and padded.per_s:
        x = free.per_s / padded.per_s
        out.append(
            f"text padding-free vs padded: {x:.2f}x (goal >= 1.5): {'met' if x >= 1.5 else 'NOT met'}"
        )
    return out or ["verdicts: no goal row finished"]


def main(argv: list[str] | None = None) -> int:
    doc = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=doc)
    parser.add_argument("--smoke", action="store_true", help="tiny configs on the CPU")
    parser.add_argument("--steps", type=int, help="timed steps per case (5; smoke 2)")
    parser.add_argument("--warmup", type=int, help="untimed steps first (2; smoke 1)")
    parser.add_argument(
        "--budget-s", type=float, default=420, help="no case starts later"
    )
    parser.add_argument("--only", choices=("FLUX", "text"), help="run one section")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    args.steps = args.steps or (2 if args.smoke else 5)
    args.warmup = (1 if args.smoke else 2) if args.warmup is None else args.warmup
    diffusers = ensure_diffusers()
    torch.manual_seed(0)
    c = Check(args)
    for compiled in (False, True):
        for row, fn, unit in cases(c, compiled):
            if args.only in (None, row.section):
                c.run(row, fn, unit)
    nf4 = "not run: " + (
        "bitsandbytes is not installed"
        if importlib.util.find_spec("bitsandbytes") is None
        else "the trainer quantizes nf4 at load (from_pretrained), and nothing is saved"
    )
    if args.only in (None, "FLUX"):
        c.rows.append(
            Row("FLUX", "ours", f"{c.sizes.resolutions[1]} px", "nf4+ckpt", note=nf4)
        )
    print(header(c, diffusers), table(c.rows), sep="\n\n")
    print("", *verdicts(c), sep="\n")
    print(f"\nwall time {time.perf_counter() - c.start:.0f} s")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in c.rows], indent=1))
    broken = [r for r in c.rows if r.s_per_step is None and "budget" not in r.note]
    return 1 if c.smoke and any(not r.note.startswith("not run") for r in broken) else 0


if __name__ == "__main__":
    sys.exit(main())
