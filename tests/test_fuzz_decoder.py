"""The decoder under fuzzing (devtools/fuzz_decoder.py): every input the fuzzer ever found failing
decodes or fails with a reason now, the seeds are real files of every format, and a minute of
fuzzing (scripts/fuzz_decoder.sh, the long run's own script) finds nothing new."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fuzz_decoder import SUFFIXES, decode, describe

REPO = Path(__file__).resolve().parents[1]
CRASHES = sorted((REPO / "tests" / "fuzz_crashes").iterdir())
SEEDS = sorted((REPO / "tests" / "fuzz_corpus").iterdir())


REPLAY = """
import sys, tempfile
from pathlib import Path
from fuzz_decoder import decode
decode(Path(sys.argv[1]).read_bytes(), Path(tempfile.mkdtemp()))
"""


@pytest.mark.parametrize("finding", CRASHES, ids=[p.name for p in CRASHES])
def test_inputs_the_fuzzer_found_failing_now_decode_or_give_a_reason(finding):
    """Each raised something other than AudioDecodeError before its fix, or crashed the process:
    replayed in a process of its own, so a crash fails this test alone."""
    run = subprocess.run([sys.executable, "-X", "faulthandler", "-c", REPLAY, str(finding)], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert run.returncode == 0, run.stderr[-3000:]


def test_the_seeds_are_real_audio_of_every_format_read_whole_and_in_stretches(tmp_path):
    reasons = {seed.name: decode(seed.read_bytes(), tmp_path) for seed in SEEDS}
    failing = {name.rsplit(".", 1)[0] for name, reason in reasons.items() if reason}
    assert failing == {"float.wav", "text.mp3"}, reasons  # a cut-off wav and text named .mp3, on purpose
    formats = {describe(seed.read_bytes())[0] for seed in SEEDS}
    assert {".wav", ".au", ".aiff", ".flac", ".ogg", ".opus", ".mp3", ".m4a", ".wma"} <= formats <= set(SUFFIXES)


def test_a_minute_of_fuzzing_finds_nothing(tmp_path):
    """Each finding is in findings/ (move it to tests/fuzz_crashes/ once fixed)."""
    run = subprocess.run(["bash", str(REPO / "scripts" / "fuzz_decoder.sh"), "60", str(tmp_path)],
                         env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert figures["inputs"] > 500, figures  # it ran: the seeds alone are 21 inputs
    assert figures["findings"] == [], (tmp_path / "fuzz.log").read_text(errors="replace")[-5000:]
