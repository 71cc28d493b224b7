"""Outputs are written to `<out>/.staging/` and moved into `<out>/` only when the run succeeds, so a failed
run never leaves files that look like a finished adapter. A quality failure keeps its metrics under
`<out>/failed/`."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

FAILED = "failed"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Staging:
    def __init__(self, out: Path, final_names: tuple[str, ...]) -> None:
        self.out = out
        self.dir = out / ".staging"
        for name in (*final_names, FAILED, "samples"):
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)

    def write_json(self, name: str, value: Any) -> None:
        (self.dir / name).write_text(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")

    def commit(self, names: list[str]) -> list[dict[str, Any]]:
        """Move `names` (relative to the staging dir) into `<out>/` and describe them as artifacts."""
        artifacts = []
        for name in names:
            dest = self.out / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.dir / name, dest)
            artifacts.append({"path": name, "sha256": sha256_file(dest), "bytes": dest.stat().st_size})
        shutil.rmtree(self.dir, ignore_errors=True)
        return artifacts

    def fail(self, keep: list[str]) -> None:
        """Keep `keep` (e.g. metrics.json, samples) under `<out>/failed/` and drop the rest."""
        failed = self.out / FAILED
        failed.mkdir(parents=True, exist_ok=True)
        for name in keep:
            if (self.dir / name).exists():
                dest = failed / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.dir / name, dest)
        shutil.rmtree(self.dir, ignore_errors=True)

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
