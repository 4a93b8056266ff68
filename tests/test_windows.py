"""A song cut into windows: evenly spread non-overlapping windows decoded alone give the windows
of the whole song's cut (real recordings from ../shared/audio)."""

from __future__ import annotations

import numpy as np

from conftest import shared_path
from data.audio import open_song
from data.features import LogMel
from data.windows import read_windows
from training.config import feature_settings


def test_spread_patches_decoded_alone_are_the_whole_songs_patches():
    """MSD-musicnn's 3 s patches, 4 of a 4.8-minute mp3: the places of the whole-song cut (the last
    one flush with the end the header states: 0.26 s past the decoded end of this mp3), and the same
    log-mel but for the first and last frame of each patch (centred STFT frames reach past a
    patch's own audio) and the resampler's edges (a few samples)."""
    path = shared_path("audio", "machine_wars.mp3")
    spectrogram, windows = feature_settings("features=musicnn")
    logmel = LogMel(spectrogram)
    with open_song(path) as whole:
        every, every_start, _ = read_windows(whole, windows, logmel)
    with open_song(path) as alone:
        spread, starts, seconds = read_windows(alone, windows, logmel, most=4)
    assert len(every) == 98 and spread.shape == (4, 1, 96, 187) and seconds > 290
    assert starts[:3] == [every_start[i] for i in (0, 32, 65)] and abs(starts[3] - every_start[-1]) < 0.5
    inner = np.abs(spread[:3, ..., 2:-2].numpy() - every[[0, 32, 65]][..., 2:-2].numpy())
    assert np.median(inner) < 1e-3 and np.mean(inner) < 0.02
