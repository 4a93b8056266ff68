"""GTZAN's facts: its ten genres and its fault-filtered split.

GTZAN is one case of a data set folder (`data.folders`): `genres/<g>/<g>.000NN.au` in the
original archive, `genres_original/<g>/<g>.000NN.wav` in re-uploads, both found as folders
wrapping the label folders.
"""

from __future__ import annotations

import logging

from data.folders import Clip

GENRES: tuple[str, ...] = (
    "blues", "classical", "country", "disco", "hiphop",
    "jazz", "metal", "pop", "reggae", "rock",
)  # fmt: skip

log = logging.getLogger(__name__)


def filtered_split(clips: tuple[Clip, ...]) -> dict[str, list[Clip]]:
    """The fault-filtered artist-conditional split (443/197/290 clips on full GTZAN).

    The lists come from torchaudio's GTZAN module at run time and name clips by GTZAN's own
    names ("blues.00012", the file name without its extension, in the genre's folder). Clips
    listed there but absent or unreadable here are reported and skipped (the list includes the
    broken jazz.00054).
    """
    from torchaudio.datasets import gtzan as tg

    by_name = {clip.path.stem: clip for clip in clips if clip.path.stem.split(".")[0] == clip.genre}
    lists = {"train": tg.filtered_train, "valid": tg.filtered_valid, "test": tg.filtered_test}
    split = {}
    for name, ids in lists.items():
        split[name] = [by_name[i] for i in ids if i in by_name]
        missing = len(ids) - len(split[name])
        if missing:
            log.warning("filtered split %r: %d of %d listed clips are missing or unreadable",
                        name, missing, len(ids))
    return split


# The splits GTZAN brings beside a folder's own (data.folders.make_split's `named`).
SPLITS = {"filtered": filtered_split}
