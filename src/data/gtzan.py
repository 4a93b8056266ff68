"""The GTZAN index and its splits.

Finds clips in both common layouts (`genres/<g>/<g>.000NN.au` from the original archive,
`genres_original/<g>/<g>.000NN.wav` from re-uploads), labels them from their folder, and
reports unreadable clips (e.g. the broken `jazz.00054.wav` of common copies) instead of failing.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.probe import AudioDecodeError, probe_audio

GENRES: tuple[str, ...] = (
    "blues", "classical", "country", "disco", "hiphop",
    "jazz", "metal", "pop", "reggae", "rock",
)  # fmt: skip
LAYOUT_FOLDERS = ("genres", "genres_original")
SPLIT_NAMES = ("train", "valid", "test")
_CLIP_NAME = re.compile(r"^(?P<genre>[a-z]+)\.(?P<number>\d{5})\.(?:au|wav)$")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Clip:
    clip_id: str  # "blues.00012", GTZAN's own name, used by the split lists
    path: Path
    label: int

    @property
    def genre(self) -> str:
        return GENRES[self.label]


@dataclass(frozen=True)
class GTZANIndex:
    root: Path
    clips: tuple[Clip, ...]
    unreadable: tuple[tuple[Path, str], ...]


def genre_folder(root: str | Path) -> Path:
    """The folder holding the ten genre folders: ROOT/genres, ROOT/genres_original or ROOT."""
    root = Path(root)
    for name in LAYOUT_FOLDERS:
        if (root / name).is_dir():
            return root / name
    if any((root / g).is_dir() for g in GENRES):
        return root
    raise FileNotFoundError(
        f"no GTZAN data under {root}: expected {root}/genres/<genre>/ or "
        f"{root}/genres_original/<genre>/ (run scripts/download_gtzan.sh {root})"
    )


def index_gtzan(root: str | Path, check_readable: bool = True) -> GTZANIndex:
    """Every clip under `root`, sorted by id; unreadable files are logged and left out."""
    folder = genre_folder(root)
    clips, unreadable = [], []
    for label, genre in enumerate(GENRES):
        for path in sorted((folder / genre).glob(f"{genre}.*")):
            match = _CLIP_NAME.match(path.name)
            if not match or match["genre"] != genre:
                continue
            problem = _unreadable_reason(path) if check_readable else None
            if problem:
                unreadable.append((path, problem))
                log.warning("skipping unreadable GTZAN clip %s: %s", path, problem)
                continue
            clips.append(Clip(f"{genre}.{match['number']}", path, label))
    if not clips:
        raise FileNotFoundError(f"no readable GTZAN clips found under {folder}")
    return GTZANIndex(Path(root), tuple(clips), tuple(unreadable))


def _unreadable_reason(path: Path) -> str | None:
    try:
        probe_audio(path)
    except AudioDecodeError as exc:
        return exc.reason
    return None


def filtered_split(clips: tuple[Clip, ...]) -> dict[str, list[Clip]]:
    """The fault-filtered artist-conditional split (443/197/290 clips on full GTZAN).

    The lists come from torchaudio's GTZAN module at run time. Clips listed there but absent
    or unreadable here are reported and skipped (the list includes the broken jazz.00054).
    """
    from torchaudio.datasets import gtzan as tg

    by_id = {clip.clip_id: clip for clip in clips}
    lists = {"train": tg.filtered_train, "valid": tg.filtered_valid, "test": tg.filtered_test}
    split = {}
    for name, ids in lists.items():
        split[name] = [by_id[i] for i in ids if i in by_id]
        missing = len(ids) - len(split[name])
        if missing:
            log.warning("filtered split %r: %d of %d listed clips are missing or unreadable",
                        name, missing, len(ids))
    return split


def random_split(
    clips: tuple[Clip, ...], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> dict[str, list[Clip]]:
    """A stratified random split, the same for the same clips and seed on every run.

    Every genre with at least three clips puts one or more in each split. Random splits leak
    artists on real GTZAN and overstate accuracy; use them for generated data.
    """
    rng = np.random.default_rng(seed)
    by_genre: dict[int, list[Clip]] = defaultdict(list)
    for clip in sorted(clips, key=lambda c: c.clip_id):
        by_genre[clip.label].append(clip)
    split: dict[str, list[Clip]] = {name: [] for name in SPLIT_NAMES}
    for label in sorted(by_genre):
        group = [by_genre[label][i] for i in rng.permutation(len(by_genre[label]))]
        n_valid = max(1, round(fractions[1] * len(group))) if len(group) >= 3 else 0
        n_test = max(1, round(fractions[2] * len(group))) if len(group) >= 3 else 0
        n_train = len(group) - n_valid - n_test
        split["train"] += group[:n_train]
        split["valid"] += group[n_train : n_train + n_valid]
        split["test"] += group[n_train + n_valid :]
    return split


def make_split(
    index: GTZANIndex, name: str, seed: int = 0, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> dict[str, list[Clip]]:
    """Split by name: "filtered" (the honest GTZAN benchmark) or "random" (seeded, stratified)."""
    if name == "filtered":
        split = filtered_split(index.clips)
    elif name == "random":
        split = random_split(index.clips, fractions, seed)
    else:
        raise ValueError(f"unknown split {name!r}: use 'filtered' or 'random'")
    empty = [part for part, clips in split.items() if not clips]
    if empty:
        raise ValueError(
            f"split {name!r} leaves {empty} empty for the clips under {index.root}; "
            "a partial or generated data set needs data.split=random"
        )
    return split
