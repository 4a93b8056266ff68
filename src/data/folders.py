"""A data set is a folder with one sub-folder per label, holding audio files of any name and format.

    DATA/<label>/<any name>.<wav|au|flac|ogg|opus|mp3|m4a|...>

The labels are the sub-folder names, sorted. Archives that wrap the label folders in one more
folder (`DATA/<any>/<label>/`, as GTZAN's `genres/` and `genres_original/`) are found by
themselves. Unreadable files are reported and left out instead of failing. Splits: "random"
(stratified, seeded), "lists" (files naming the clips of each part), or one a data set brings
(`make_split`'s `named`, such as GTZAN's "filtered", `data.gtzan`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.probe import AUDIO_SUFFIXES, FFMPEG_ONLY_SUFFIXES, AudioDecodeError, UnknownFormat, probe_audio

SPLIT_NAMES = ("train", "valid", "test")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Clip:
    clip_id: str  # the file's path under the label folders: "rock/song.mp3", "blues/blues.00012.au"
    path: Path
    label: int
    genre: str  # labels[label]: the sub-folder's name


@dataclass(frozen=True)
class LabelledFolder:
    root: Path
    labels: tuple[str, ...]
    clips: tuple[Clip, ...]
    unreadable: tuple[tuple[Path, str], ...]


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def _holds_labels(folder: Path) -> bool:
    return folder.is_dir() and any(_audio_files(sub) for sub in folder.iterdir() if sub.is_dir())


def label_folder(root: str | Path) -> Path:
    """The folder whose sub-folders are the labels: ROOT, or the one folder under ROOT whose
    sub-folders hold audio files (an archive's wrapping folder, such as GTZAN's genres/)."""
    root = Path(root)
    if _holds_labels(root):
        return root
    wrapped = [sub for sub in sorted(root.iterdir()) if _holds_labels(sub)] if root.is_dir() else []
    if len(wrapped) == 1:
        return wrapped[0]
    raise FileNotFoundError(
        f"no data set under {root}: expected one sub-folder per label holding audio files "
        f"({root}/<label>/<file>), or one folder holding those ({root}/<folder>/<label>/<file>)"
        + (f"; found several: {', '.join(sub.name for sub in wrapped)}" if wrapped else "")
    )


def read_folder(root: str | Path) -> LabelledFolder:
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
    return LabelledFolder(Path(root), labels, tuple(clips), tuple(unreadable))


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
    folder: LabelledFolder, name: str, seed: int, fractions: tuple[float, float, float], lists: dict[str, str] | None,
    named: Mapping[str, Callable[[tuple[Clip, ...]], dict[str, list[Clip]]]] | None = None,
) -> dict[str, list[Clip]]:
    """Split by name: "random" (seeded, stratified), "lists" (`lists` maps train/valid/test to
    files of clip ids), or one of `named`, the splits a data set brings (GTZAN's "filtered")."""
    named = dict(named or {})
    if name == "random":
        split = random_split(folder.clips, fractions, seed)
    elif name == "lists":
        split = listed_split(folder.clips, lists or {})
    elif name in named:
        split = named[name](folder.clips)
    else:
        raise ValueError(f"unknown split {name!r}: use one of {', '.join([*named, 'random', 'lists'])}")
    empty = [part for part, clips in split.items() if not clips]
    if empty:
        raise ValueError(
            f"split {name!r} leaves {empty} empty for the clips under {folder.root}; "
            "a partial, generated or own data set needs data.split=random or data.split=lists"
        )
    return split
