from pathlib import Path

import pytest
import soundfile as sf

from conftest import shared_path
from data.folders import Clip, make_split, random_split, read_folder
from data.gtzan import GENRES, SPLITS, filtered_split


def _all_gtzan_ids() -> tuple[Clip, ...]:
    """Clip records for the 1000 GTZAN ids (no audio needed to split them)."""
    return tuple(
        Clip(f"{g}/{g}.{n:05d}.au", Path(f"{g}.{n:05d}.au"), label, g)
        for label, g in enumerate(GENRES)
        for n in range(100)
    )


def test_filtered_split_is_443_197_290_and_disjoint():
    split = filtered_split(_all_gtzan_ids())
    assert {k: len(v) for k, v in split.items()} == {"train": 443, "valid": 197, "test": 290}
    ids = [set(c.clip_id for c in split[name]) for name in ("train", "valid", "test")]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])


def test_filtered_split_skips_missing_clips():
    clips = tuple(c for c in _all_gtzan_ids() if c.clip_id != "jazz/jazz.00054.au")
    assert len(filtered_split(clips)["train"]) == 442


def test_random_split_is_stratified_seeded_and_disjoint():
    clips = _all_gtzan_ids()
    split = random_split(clips, seed=3)
    assert {k: len(v) for k, v in split.items()} == {"train": 800, "valid": 100, "test": 100}
    assert split == random_split(tuple(reversed(clips)), seed=3)
    assert split != random_split(clips, seed=4)
    for name in split:
        assert {c.label for c in split[name]} == set(range(10))
    assert len({c.clip_id for part in split.values() for c in part}) == 1000


def test_synthetic_layout_reads_back_with_labels(synthetic_root):
    index = read_folder(synthetic_root)
    assert len(index.clips) == 30 and not index.unreadable
    for clip in index.clips:
        assert clip.path.parent.name == clip.genre == clip.clip_id.split("/")[0]
        assert clip.clip_id == f"{clip.genre}/{clip.path.name}"
        assert clip.path.parent.parent.name == "genres_original"


def test_original_au_layout_and_unreadable_clips_are_reported(tmp_path, synthetic_root):
    for clip in read_folder(synthetic_root).clips:
        target = tmp_path / "genres" / clip.genre / f"{clip.path.stem}.au"
        target.parent.mkdir(parents=True, exist_ok=True)
        data, rate = sf.read(clip.path)
        sf.write(target, data, rate, format="AU", subtype="PCM_16")
    (tmp_path / "genres" / "jazz" / "jazz.00054.au").write_bytes(b"garbage" * 10)
    index = read_folder(tmp_path)
    assert len(index.clips) == 30
    assert [p.name for p, _ in index.unreadable] == ["jazz.00054.au"]
    assert all(c.path.suffix == ".au" for c in index.clips)


def test_a_split_left_empty_says_what_to_do(synthetic_root):
    index = read_folder(synthetic_root)
    with pytest.raises(ValueError, match="data.split=random"):
        make_split(type(index)(index.root, index.labels, index.clips[:1], ()), "filtered", 0, (0.8, 0.1, 0.1), None,
                   SPLITS)


def test_missing_root_names_the_expected_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="one sub-folder per label"):
        read_folder(tmp_path)


def test_real_gtzan_slice():
    root = shared_path("gtzan_mini")
    index = read_folder(root)
    assert len(index.clips) == 50
    assert sorted({c.genre for c in index.clips}) == sorted(GENRES) and index.labels == GENRES
    assert any(c.path.suffix == ".au" for c in index.clips if c.clip_id == "jazz/jazz.00003.au")
    split = filtered_split(index.clips)
    assert sum(len(v) for v in split.values()) <= 50
