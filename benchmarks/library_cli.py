"""How long a library question takes from the command line, before and after the library became
its own layer: the wall time of `python -m serving similar LIBRARY_SONG`, whole process, and
what it imports.

    python benchmarks/library_cli.py [--before REV] [--repeats N]

"before" is the code of git revision REV (default 84a6d74, the last commit before the move),
checked out into a temporary worktree and run with its own src/ first on the path; "after" is
this checkout. Both answer from a copy of the same real library file (tests/data: two songs
indexed with the old Keras model), in turns, so drift on a shared machine hits both alike. The
figures: median and best wall seconds per side, their ratio, whether torch, BentoML or
Lightning were imported, and the slowest top-level imports (`python -X importtime`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, emit

LIBRARY_FILE = REPO / "tests" / "data" / "library-before-versions.db"
SONG = "/tmp/fx/music/sad.ogg"  # the path the library file holds; no audio is read
HEAVY = ("torch", "torchaudio", "bentoml", "lightning", "mlflow")


def ask(src: Path, library: Path, importtime: bool = False) -> tuple[float, str]:
    """(wall seconds, stderr) of one `python -m serving similar` run with `src` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(src), "BENTOML_HOME": str(library.parent / "no-models")}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *(("-X", "importtime") if importtime else ()), "-m", "serving",
                           "--library", str(library), "similar", SONG, "--top-k", "1", "--json"],
                          env=env, capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - started
    if done.returncode != 0 or "elf-land.ogg" not in done.stdout:
        raise SystemExit(f"{src}: the question failed:\n{done.stderr[-3000:]}")
    return seconds, done.stderr


def top_level_imports(stderr: str) -> dict[str, float]:
    """Cumulative import seconds of each top-level package, from `-X importtime` lines."""
    packages: dict[str, float] = {}
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
            if not name.startswith(" "):
                top = name.split(".")[0]
                packages[top] = max(packages.get(top, 0.0), int(cumulative) / 1e6)
    return packages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="84a6d74")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        worktree = Path(tmp, "before")
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(worktree), args.before],
                       check=True, capture_output=True)
        try:
            sides = {"before": worktree / "src", "after": REPO / "src"}
            libraries = {}
            for side in sides:
                libraries[side] = Path(tmp, side + "-library", "library.db")
                libraries[side].parent.mkdir()
                shutil.copy(LIBRARY_FILE, libraries[side])
            for side, src in sides.items():  # warm-up: file caches, and the after side's schema upgrade
                ask(src, libraries[side].parent)
            times: dict[str, list[float]] = {side: [] for side in sides}
            for _ in range(args.repeats):
                for side, src in sides.items():
                    times[side].append(ask(src, libraries[side].parent)[0])
            for side, src in sides.items():
                imports = top_level_imports(ask(src, libraries[side].parent, importtime=True)[1])
                common = {"side": side, "revision": args.before if side == "before" else "this checkout",
                          "repeats": args.repeats}
                emit("library_cli", "similar_wall_seconds_median", statistics.median(times[side]), "s", **common)
                emit("library_cli", "similar_wall_seconds_best", min(times[side]), "s", **common)
                emit("library_cli", "heavy_packages_imported", len([p for p in HEAVY if p in imports]), "packages",
                     which=[p for p in HEAVY if p in imports], **common)
                slowest = sorted(imports.items(), key=lambda item: -item[1])[:8]
                emit("library_cli", "slowest_imports_seconds", sum(s for _, s in slowest), "s",
                     imports={name: round(seconds, 3) for name, seconds in slowest}, **common)
            emit("library_cli", "before_over_after_median", statistics.median(times["before"]) / statistics.median(times["after"]),
                 "ratio", repeats=args.repeats)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)], check=False,
                           capture_output=True)


if __name__ == "__main__":
    main()
