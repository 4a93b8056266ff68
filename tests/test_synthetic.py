import subprocess
import sys

import numpy as np
import soundfile as sf
import torch

from training.config import feature_settings
from data.features import LogMel
from data.folders import read_folder
from data.gtzan import GENRES
from data.synthetic import SAMPLE_RATE, render_clip


def test_cli_writes_a_gtzan_shaped_set(tmp_path):
    out = tmp_path / "syn"
    done = subprocess.run(
        [sys.executable, "-m", "data.synthetic", "--out", str(out), "--clips-per-genre", "3"],
        capture_output=True, text=True, check=True,
    )
    assert "30 clips" in done.stdout
    wavs = sorted(out.glob("genres_original/*/*.wav"))
    assert len(wavs) == 30
    assert {w.name for w in wavs} == {f"{g}.{n:05d}.wav" for g in GENRES for n in range(3)}
    info = sf.info(str(wavs[0]))
    assert (info.samplerate, info.channels, info.frames) == (22050, 1, 30 * 22050)
    index = read_folder(out)
    assert [c.genre for c in index.clips] == [g for g in GENRES for _ in range(3)]


def test_same_seed_same_audio_other_seed_other_audio():
    a = render_clip("jazz", 5.0, np.random.default_rng([0, 5, 1]))
    b = render_clip("jazz", 5.0, np.random.default_rng([0, 5, 1]))
    c = render_clip("jazz", 5.0, np.random.default_rng([1, 5, 1]))
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_genres_differ_in_their_spectra_more_than_clips_of_one_genre():
    """Classes are told apart by content: mean log-mel profiles cluster by genre."""
    transform = LogMel(feature_settings()[0].model_copy(update={"sample_rate": SAMPLE_RATE, "f_max": 11025}))
    profiles = {
        g: [transform(torch.from_numpy(render_clip(g, 10.0, np.random.default_rng([9, i, k])))).mean(-1)
            for k in range(2)]
        for i, g in enumerate(GENRES)
    }
    within = np.mean([float((p[0] - p[1]).norm()) for p in profiles.values()])
    between = np.mean([float((profiles[a][0] - profiles[b][0]).norm())
                       for a in GENRES for b in GENRES if a < b])
    assert between > 1.5 * within
