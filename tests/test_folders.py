"""A data set as a folder per label: any label names, any file names and formats, splits."""

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from data.folders import make_split, read_folder

RATE = 22050


def _tone(path: Path, pitch: float, seconds: float = 1.0, **kwargs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * RATE)) / RATE
    sf.write(path, 0.3 * np.sin(2 * np.pi * pitch * t), RATE, **kwargs)


@pytest.fixture
def own(tmp_path) -> Path:
    """Three labels of four songs each, named freely, in wav, flac and ogg; clutter beside them."""
    root = tmp_path / "mine"
    for i, label in enumerate(["Rainy days", "dance", "zz-focus"]):
        for n, fmt in enumerate(["wav", "flac", "ogg", "wav"]):
            _tone(root / label / f"song {n} - take {i}.{fmt}", 220.0 * (i + 1) + n)
    (root / "dance" / "cover.jpg").write_bytes(b"\xff\xd8 not audio, not an audio name")
    (root / "dance" / "notes.txt").write_text("ignored")
    (root / "empty label").mkdir()
    (root / "zz-focus" / "broken.wav").write_bytes(b"RIFF not really a wave file")
    return root


def test_labels_are_the_folder_names_and_clips_any_audio_file(own):
    index = read_folder(own)
    assert index.labels == ("Rainy days", "dance", "zz-focus")  # sorted; a folder without audio is no label
    assert len(index.clips) == 12
    assert {c.path.suffix for c in index.clips} == {".wav", ".flac", ".ogg"}
    assert [p.name for p, _ in index.unreadable] == ["broken.wav"]
    for clip in index.clips:
        assert clip.genre == index.labels[clip.label] == clip.path.parent.name
        assert clip.clip_id == f"{clip.genre}/{clip.path.name}"


def test_random_split_of_own_labels_is_stratified_and_seeded(own):
    index = read_folder(own)
    split = make_split(index, "random", 1, (0.5, 0.25, 0.25), None)
    assert {k: len(v) for k, v in split.items()} == {"train": 6, "valid": 3, "test": 3}
    assert all({c.label for c in part} == {0, 1, 2} for part in split.values())
    assert split == make_split(index, "random", 1, (0.5, 0.25, 0.25), None)


def test_splits_given_as_lists(own, tmp_path):
    index = read_folder(own)
    ids = [c.clip_id for c in index.clips]
    lists = {}
    for part, chosen in {"train": ids[:8], "valid": ids[8:10], "test": ids[10:]}.items():
        lists[part] = str(tmp_path / f"{part}.txt")
        Path(lists[part]).write_text("# my split\n" + "\n".join(chosen) + "\n\n")
    split = make_split(index, "lists", 0, (0.8, 0.1, 0.1), lists)
    assert [[c.clip_id for c in split[p]] for p in ("train", "valid", "test")] == [ids[:8], ids[8:10], ids[10:]]

    Path(lists["test"]).write_text(f"{ids[10]}\n{ids[0]}\n")
    with pytest.raises(ValueError, match=rf"test\.txt:2: '{re.escape(ids[0])}' is listed in .*train\.txt too"):
        make_split(index, "lists", 0, (0.8, 0.1, 0.1), lists)
    Path(lists["test"]).write_text(f"{ids[10]}\ndance/missing.mp3\n")
    with pytest.raises(ValueError, match=r"test\.txt:2: 'dance/missing\.mp3' is not a readable clip"):
        make_split(index, "lists", 0, (0.8, 0.1, 0.1), lists)
    with pytest.raises(ValueError, match="data.split_lists.valid"):
        make_split(index, "lists", 0, (0.8, 0.1, 0.1), {"train": lists["train"]})


def test_a_folder_without_label_folders_says_what_it_expects(tmp_path):
    _tone(tmp_path / "loose.wav", 440.0)
    with pytest.raises(FileNotFoundError, match=r"one sub-folder per label"):
        read_folder(tmp_path)
