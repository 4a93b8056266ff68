"""Check an extracted GTZAN copy with the loader training uses, before it is installed.

scripts/download_gtzan.sh runs this on the extracted archive. Counting files with `find`, or
probing them with another decoder, could pass clips that the loader then skips or fail ones it
reads; `data.folders.read_folder` is what training sees, so it decides here too.

    python -m data.gtzan_check ROOT [--expected-clips N]

Prints one summary line (genre folder, clips per genre, total) and each unreadable clip with its
reason, on its own line. Exits 1 when readable + unreadable clips differ from N or a genre has no
readable clip; unreadable clips alone are not an error (common copies hold a broken jazz.00054).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from pathlib import Path

from data.folders import label_folder, read_folder
from data.gtzan import GENRES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data.gtzan_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="folder holding genres/ or genres_original/")
    parser.add_argument("--expected-clips", type=int, default=1000, help="clips a complete copy has (1000)")
    args = parser.parse_args(argv)

    # read_folder also logs each unreadable clip; they are listed below, once.
    logging.getLogger("data.folders").setLevel(logging.ERROR)
    try:
        folder = label_folder(args.root)
        index = read_folder(args.root)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    readable = Counter(clip.genre for clip in index.clips)
    total = len(index.clips) + len(index.unreadable)
    per_genre = ", ".join(f"{genre} {readable[genre]}" for genre in GENRES)
    print(f"{folder}: {per_genre}; {total} clips, {len(index.clips)} readable, {len(index.unreadable)} unreadable")
    for path, reason in index.unreadable:
        print(f"unreadable: {path.relative_to(args.root)}: {reason}")

    problems = []
    if total != args.expected_clips:
        problems.append(f"expected {args.expected_clips} clips, found {total}")
    empty = [genre for genre in GENRES if not readable[genre]]
    if empty:
        problems.append(f"no readable clips for {', '.join(empty)}")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
