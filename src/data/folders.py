"""A data set is a folder with one sub-folder per label, holding audio files of any name and format.

    DATA/<label>/<any name>.<wav|au|flac|ogg|opus|mp3|m4a|...>

The labels are the sub-folder names, sorted (GTZAN's ten genres come out in their usual
order). GTZAN's own layouts are this with one more level: `DATA/genres/<genre>/` (the original
archive) or `DATA/genres_original/<genre>/` (re-uploads), found by themselves. Unreadable
files are reported and left out instead of failing (the broken `jazz.00054` of common GTZAN
copies). Splits: "random" (stratified, seeded), "lists" (files naming the clips of each part) or,
for GTZAN, "filtered" (its fault-filtered artist-conditional split).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.gtzan import LAYOUT_FOLDERS, filtered_split
from data.probe import AUDIO_SUFFIXES, FFMPEG_ONLY_SUFFIXES, AudioDecodeError, UnknownFormat, probe_audio

SPLIT_NAMES = ("train", "valid", "test")
SPLITS = ("filtered", "random", "lists")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Clip:
    clip_id: str  # the file's path under the label folders: "rock/song.mp3", "blues/blues.00012.au"
    path: Path
    label: int
    genre: str  # labels[label]: the sub-folder's name


@dataclass(frozen=True)
class FolderIndex:
    root: Path
    labels: tuple[str, ...]
    clips: tuple[Clip, ...]
    unreadable: tuple[tuple[Path, str], ...]


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def label_folder(root: str | Path) -> Path:
    """The folder whose sub-folders are the labels: ROOT/genres, ROOT/genres_original or ROOT."""
    root = Path(root)
    for name in LAYOUT_FOLDERS:
        if (root / name).is_dir():
            return root / name
    if root.is_dir() and any(_audio_files(sub) for sub in root.iterdir() if sub.is_dir()):
        return root
    raise FileNotFoundError(
        f"no data set under {root}: expected one sub-folder per label holding audio files "
        f"({root}/<label>/<file>), or GTZAN's {root}/genres/<genre>/ or {root}/genres_original/<genre>/ "
        f"(scripts/download_gtzan.sh {root} fetches GTZAN)"
    )


def index_folder(root: str | Path) -> FolderIndex:
    """Every audio file under the label folders of `root`, sorted by id; unreadable ones are
    logged and left out. A label folder without audio files is no label."""
    folder = label_folder(root)
    files = {sub.name: _audio_files(sub) for sub in sorted(folder.iterdir()) if sub.is_dir()}
    labels = tuple(name for name, paths in files.items() if paths)
    clips, unreadable = [], []
    for label, name in enumerate(labels):
        for path in files[name]:
            problem = _unreadable_reason(path)
            if problem:
                unreadable.append((path, problem))
                log.warning("skipping unreadable clip %s: %s", path, problem)
                continue
            clips.append(Clip(f"{name}/{path.name}", path, label, name))
    if not clips:
        raise FileNotFoundError(f"no readable audio files in the label folders of {folder}")
    return FolderIndex(Path(root), labels, tuple(clips), tuple(unreadable))


def _unreadable_reason(path: Path) -> str | None:
    try:
        probe_audio(path)
    except UnknownFormat as exc:  # only FFmpeg reads these; the feature cache tries it
        return None if path.suffix.lower() in FFMPEG_ONLY_SUFFIXES else exc.reason
    except AudioDecodeError as exc:
        return exc.reason
    return None


def random_split(
    clips: tuple[Clip, ...], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> dict[str, list[Clip]]:
    """A stratified random split, the same for the same clips and seed on every run.

    Every label with at least three clips puts one or more in each split. Random splits leak
    artists on real GTZAN and overstate accuracy; use them for generated data or your own.
    """
    rng = np.random.default_rng(seed)
    by_label: dict[int, list[Clip]] = defaultdict(list)
    for clip in sorted(clips, key=lambda c: c.clip_id):
        by_label[clip.label].append(clip)
    split: dict[str, list[Clip]] = {name: [] for name in SPLIT_NAMES}
    for label in sorted(by_label):
        group = [by_label[label][i] for i in rng.permutation(len(by_label[label]))]
        n_valid = max(1, round(fractions[1] * len(group))) if len(group) >= 3 else 0
        n_test = max(1, round(fractions[2] * len(group))) if len(group) >= 3 else 0
        n_train = len(group) - n_valid - n_test
        split["train"] += group[:n_train]
        split["valid"] += group[n_train : n_train + n_valid]
        split["test"] += group[n_train + n_valid :]
    return split


def listed_split(clips: tuple[Clip, ...], lists: dict[str, str]) -> dict[str, list[Clip]]:
    """The clips each list file names, one id a line (`<label>/<file name>`; `#` starts a
    comment). An id that is not a readable clip of the data set, or that two lists name, stops
    the run, naming the file and line."""
    missing = [name for name in SPLIT_NAMES if not lists.get(name)]
    if missing:
        raise ValueError(f"data.split=lists needs data.split_lists.{missing[0]}: a file listing that part's clips")
    by_id = {clip.clip_id: clip for clip in clips}
    split: dict[str, list[Clip]] = {}
    listed_in: dict[str, Path] = {}
    for name in SPLIT_NAMES:
        path = Path(lists[name])
        if not path.is_file():
            raise FileNotFoundError(f"data.split_lists.{name}: no such file {path}")
        split[name] = []
        for number, line in enumerate(path.read_text().splitlines(), 1):
            clip_id = line.split("#", 1)[0].strip()
            if not clip_id:
                continue
            if clip_id not in by_id:
                raise ValueError(f"{path}:{number}: {clip_id!r} is not a readable clip of the data set "
                                 "(ids are <label>/<file name> under the label folders)")
            if clip_id in listed_in:
                raise ValueError(f"{path}:{number}: {clip_id!r} is listed in {listed_in[clip_id]} too")
            listed_in[clip_id] = path
            split[name].append(by_id[clip_id])
    return split


def make_split(
    index: FolderIndex, name: str, seed: int, fractions: tuple[float, float, float], lists: dict[str, str] | None,
) -> dict[str, list[Clip]]:
    """Split by name: "filtered" (the honest GTZAN benchmark), "random" (seeded, stratified) or
    "lists" (`lists` maps train/valid/test to files of clip ids)."""
    if name == "filtered":
        split = filtered_split(index.clips)
    elif name == "random":
        split = random_split(index.clips, fractions, seed)
    elif name == "lists":
        split = listed_split(index.clips, lists or {})
    else:
        raise ValueError(f"unknown split {name!r}: use one of {', '.join(SPLITS)}")
    empty = [part for part, clips in split.items() if not clips]
    if empty:
        raise ValueError(
            f"split {name!r} leaves {empty} empty for the clips under {index.root}; "
            "a partial, generated or own data set needs data.split=random or data.split=lists"
        )
    return split
