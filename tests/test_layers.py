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
    assert "1 kept, 0 broken" in done.stdout


def test_the_contract_breaks_when_training_imports_serving(tmp_path):
    shutil.copytree(REPO / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    evaluate = tmp_path / "src" / "training" / "evaluate.py"
    evaluate.write_text(evaluate.read_text() + "\nfrom serving.recommend import rank_candidates  # noqa\n")
    done = lint(tmp_path / "src")
    assert done.returncode != 0
    assert "BROKEN" in done.stdout and "training.evaluate -> serving.recommend" in done.stdout
