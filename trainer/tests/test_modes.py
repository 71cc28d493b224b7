"""The memory mode a run takes on a card (modes.py over the table trainer/modes.json), against fake device
memory sizes as the driver reports them, and the worked estimates the queue's copy must match
(fixtures/mode_cases.json; core/memory_modes_test.ts checks the same file). Regenerate that fixture after a
change to the table with `.venv/bin/python -m trainer.tests.test_modes`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainer import modes
from trainer.modes import Workload, choose, estimate_mib

CASES = Path(__file__).parent / "fixtures" / "mode_cases.json"
FLUX_DEV_B = 11.901408320  # FluxTransformer2DModel with FLUX.1-dev's config, counted on the meta device
QWEN_7B_B = 7.615616512  # Qwen2.5-7B's config, counted the same way
CUDA_CONTEXT_MIB = 500  # what the driver already holds when the trainer asks for free memory
CARDS = {24: 24_564, 48: 46_068, 80: 81_559, 141: 143_771}  # nvidia-smi's total MiB: 4090, L40S, H100, H200


def free(gb: int) -> float:
    return CARDS[gb] - CUDA_CONTEXT_MIB


def flux(resolution: int = 1024, batch: int = 1) -> Workload:
    return Workload("image", FLUX_DEV_B, modes.tokens_of("image", batch, resolution=resolution), 16, "bf16")


def qwen(seq: int = 2048, batch: int = 1) -> Workload:
    return Workload("text", QWEN_7B_B, modes.tokens_of("text", batch, seq), 16, "bf16")


@pytest.mark.parametrize(
    ("gb", "expected"),
    [(24, "fp8+checkpointing"), (48, "bf16+checkpointing"), (80, "bf16"), (141, "bf16")],
)
def test_choose_flux_dev_at_1024_px_takes_the_fastest_mode_that_fits_the_card(gb: int, expected: str) -> None:
    choice = choose(flux(), free(gb))
    assert (choice.name, choice.fits) == (expected, True)
    assert choice.estimate_mib <= free(gb) * modes.table()["free_share"]
    assert f"{free(gb) / 1024:.1f} GiB free" in choice.reason and "estimates, not measured" in choice.reason


@pytest.mark.parametrize(
    ("gb", "expected"),
    [(24, "fp8+checkpointing"), (48, "bf16"), (80, "bf16"), (141, "bf16")],
)
def test_choose_flux_dev_at_512_px_needs_less(gb: int, expected: str) -> None:
    assert choose(flux(512), free(gb)).name == expected


@pytest.mark.parametrize(("gb", "expected"), [(24, "bf16+checkpointing"), (48, "bf16"), (80, "bf16"), (141, "bf16")])
def test_choose_a_7b_text_model_at_seq_2048_checkpoints_only_on_24_gb(gb: int, expected: str) -> None:
    assert choose(qwen(), free(gb)).name == expected


def test_choose_24_gb_mode_estimate_is_within_the_22_gib_goal() -> None:
    assert choose(flux(), free(24)).estimate_mib <= 22 * 1024


def test_choose_treats_the_tasks_asks_as_floors_and_as_given_as_exact() -> None:
    assert choose(flux(), free(141), checkpointing=True).name == "bf16+checkpointing"
    assert choose(flux(), free(141), quantization="fp8").name == "fp8+checkpointing"  # fp8 only checkpointed
    assert choose(flux(), free(141), quantization="fp8", as_given=True).name == "fp8"
    as_given = choose(flux(), free(24), as_given=True)
    assert (as_given.name, as_given.fits) == ("bf16", False) and "may not fit" in as_given.reason


def test_choose_uses_nf4_only_where_bitsandbytes_is_installed() -> None:
    tight = free(24) - 10_000  # a 24 GB card another process half fills
    assert choose(flux(), tight).name == "fp8+checkpointing"  # too big, so the most frugal one, flagged
    assert not choose(flux(), tight).fits
    with_bnb = choose(flux(), tight, available=frozenset({"bitsandbytes"}))
    assert (with_bnb.name, with_bnb.fits) == ("nf4+checkpointing", True)


def test_choose_on_the_cpu_is_the_fastest_mode_with_no_limit() -> None:
    w = Workload("text", 0.001, 256, 4, "fp32")
    choice = choose(w, None)
    assert (choice.name, choice.fits) == ("fp32", True) and "no GPU memory limit" in choice.reason
    assert choose(w, None, checkpointing=True).name == "fp32+checkpointing"


def test_choose_merges_micro_batches_as_far_as_memory_allows() -> None:
    assert choose(flux(), free(141), accumulation=4, merge=True).per_forward == 4
    assert choose(flux(), free(80), accumulation=4, merge=True).per_forward == 1
    assert choose(flux(512), free(80), accumulation=4, merge=True).per_forward == 4
    assert choose(flux(512), free(80), accumulation=3, merge=True).per_forward == 3
    assert choose(flux(512), free(80), accumulation=4, merge=False).per_forward == 1
    assert choose(flux(), free(24), accumulation=4, merge=True).per_forward == 2  # checkpointed: 2 fit


def fixture_cases() -> list[dict[str, object]]:
    """Worked estimates of every mode for a few workloads, MiB to 0.1."""
    workloads = [flux(), flux(512, 2), qwen(), qwen(4096, 4), Workload("text", 0.5, 1024, 8, "fp32", 0.0)]
    workloads.append(Workload("image", 12.0, 4608, 16, "bf16", 5.0))
    cases = []
    for w in workloads:
        mib = {}
        for m in modes.modes(w.kind):
            for per_forward in (1, 2):
                key = f"{m.quantization}/{'gc' if m.checkpointing else 'full'}/{per_forward}"
                mib[key] = round(estimate_mib(m, w, per_forward), 1)
        cases.append({"workload": w.__dict__, "mib": mib})
    return cases


def test_mode_cases_fixture_matches_the_table() -> None:
    assert json.loads(CASES.read_text())["cases"] == fixture_cases(), "regenerate: python -m trainer.tests.test_modes"


if __name__ == "__main__":
    comment = "Worked estimates from trainer/modes.json: trainer/tests/test_modes.py writes and checks them, "
    comment += "core/memory_modes_test.ts checks the TypeScript copy of the formula against them."
    CASES.write_text(json.dumps({"$comment": comment, "cases": fixture_cases()}, indent=1) + "\n")
    print(f"wrote {CASES}")
