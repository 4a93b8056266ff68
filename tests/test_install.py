"""The install itself: the pinned pair, a clear stop when torchaudio cannot load, the bento's pins."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version

from conftest import REPO


def pins(file: str = "constraints.txt") -> dict[str, str]:
    lines = (REPO / file).read_text().splitlines()
    return dict(line.split("==", 1) for line in lines if "==" in line and not line.startswith("#"))


def test_the_bento_installs_the_tested_pins_without_the_extras():
    """bento-requirements.txt is written from constraints.txt: a re-lock that forgot it shows here."""
    tested, bento = pins(), pins("bento-requirements.txt")
    assert {name: tested.get(name) for name in bento} == bento
    assert {"torch", "torchaudio", "bentoml", "faiss-cpu", "av"} <= set(bento)
    assert not {"ray", "playwright", "atheris", "pytest", "schemathesis"} & set(bento)


def test_this_environment_runs_the_pair_the_constraints_pin():
    assert version("torch") == pins()["torch"]
    assert version("torchaudio") == pins()["torchaudio"]


def test_a_torchaudio_that_cannot_load_stops_every_command_with_one_message(tmp_path):
    fake = tmp_path / "torchaudio"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        'raise OSError("libtorchaudio.so: undefined symbol: torch_exception_get_what_without_backtrace")\n'
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    expected = (
        f"torchaudio {version('torchaudio')} cannot load with torch {version('torch')} "
        "(libtorchaudio.so: undefined symbol: torch_exception_get_what_without_backtrace). "
        f"This project is tested with torch {pins()['torch']} + torchaudio {pins()['torchaudio']} (constraints.txt)"
    )
    for command in (["-m", "training", "--help"], ["-c", "import training.module"], ["-c", "import model.predict"]):
        done = subprocess.run([sys.executable, *command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, done.stderr
        assert done.stderr.strip().splitlines() == [f"error: {expected}; reinstall with: pip install -e . -c constraints.txt"]
    # what needs no torch still works: library questions load neither torch nor torchaudio
    done = subprocess.run([sys.executable, "-m", "serving", "--help"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "similar" in done.stdout, done.stderr

