"""trainer/cache.py without a Hub: the digests a download is checked with, and event field checks.
Downloads themselves run against the local Hub in tests/model_prefetch_test.ts."""

from __future__ import annotations

import hashlib
import io
import json

import pytest

from trainer.cache import PREFETCH_FIELDS, emit, file_digest, wanted


def test_file_digest_is_the_git_blob_id_of_a_regular_file(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"hello\n")
    assert file_digest(path, lfs=False) == "ce013625030ba8dba906f756967f9e9ca394464a"  # git hash-object


def test_file_digest_is_the_sha256_of_an_lfs_file(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(bytes(range(256)) * 5000)
    assert file_digest(path, lfs=True) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_emit_writes_one_json_line_with_exactly_the_fields_of_its_event():
    out = io.StringIO()
    emit("prefetch_progress", out, model="o/m", done_bytes=1, total_bytes=2)
    line = json.loads(out.getvalue())
    assert line["event"] == "prefetch_progress" and line["done_bytes"] == 1
    assert set(line) == {"event", "time", *PREFETCH_FIELDS["prefetch_progress"]}
    with pytest.raises(ValueError, match="needs fields"):
        emit("prefetch_progress", out, model="o/m")


def test_wanted_skips_weight_formats_from_pretrained_does_not_read():
    flux = ["model_index.json", "flux1-dev.safetensors", "ae.safetensors", "transformer/config.json"]
    flux += ["transformer/diffusion_pytorch_model-00001-of-00003.safetensors", "README.md", "dev_grid.jpg"]
    assert wanted(flux) == set(flux) - {"flux1-dev.safetensors", "ae.safetensors"}
    llama = ["config.json", "model-00001-of-00004.safetensors", "original/consolidated.00.pth", "tokenizer.json"]
    llama += ["pytorch_model.bin"]
    assert wanted(llama) == {"config.json", "model-00001-of-00004.safetensors", "tokenizer.json"}
    old = ["config.json", "pytorch_model.bin"]
    assert wanted(old) == set(old)
