"""The layers contract (pyproject's [tool.importlinter]) holds, and it can fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO

LINT = [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"]


def lint(src: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(LINT, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_every_package_imports_only_the_layers_below_it():
    done = lint(REPO / "src")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "2 kept, 0 broken" in done.stdout


def _with_import(tmp_path: Path, module: str, line: str) -> subprocess.CompletedProcess:
    """The contract run on a copy of src/ where `module` (a path under src/) gains `line`."""
    shutil.copytree(REPO / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    path = tmp_path / "src" / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    return lint(tmp_path / "src")


def test_the_contract_breaks_when_the_library_imports_serving(tmp_path):
    done = _with_import(tmp_path, "library/queries.py", "from serving.responses import recommendation")
    assert done.returncode != 0
    assert "BROKEN" in done.stdout and "library.queries -> serving.responses" in done.stdout


def test_the_contract_breaks_when_training_imports_the_library(tmp_path):
    done = _with_import(tmp_path, "training/evaluate.py", "from library.ranking import rank_candidates")
    assert done.returncode != 0
    assert "BROKEN" in done.stdout and "training.evaluate -> library.ranking" in done.stdout
