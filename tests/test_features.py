import math

import torch

import pytest
from pydantic import ValidationError

from training.config import feature_settings
from data.features import LogMel, SpectrogramConfig
from data.windows import WindowConfig, keras_windows, pad_frames, random_window, sliding_windows, window_starts

CHOI, CHOI_WINDOWS = feature_settings()


def test_faithful_window_is_1366_frames():
    assert CHOI_WINDOWS.frames(CHOI) == 1366
    logmel = LogMel(CHOI)(torch.randn(CHOI_WINDOWS.samples(CHOI)))
    assert logmel.shape == (96, 1366)


def test_tone_lands_in_the_right_mel_band():
    config = CHOI.model_copy(update={"sample_rate": 16000, "n_mels": 64, "f_max": 8000})
    t = torch.arange(16000) / 16000
    logmel = LogMel(config)(torch.sin(2 * math.pi * 1000 * t))
    band = int(logmel.mean(dim=1).argmax())
    mel = LogMel(config).mel.mel_scale.fb  # (freq bins, mels)
    assert abs(band - int(mel[round(1000 / 8000 * (mel.shape[0] - 1))].argmax())) <= 1


def test_batches_are_per_item_and_match_single_calls():
    transform = LogMel(CHOI)
    loud, quiet = torch.randn(24000), 1e-3 * torch.randn(24000)
    batch = transform(torch.stack([loud, quiet]))
    assert torch.allclose(batch[0], transform(loud), atol=1e-4)
    assert torch.allclose(batch[1], transform(quiet), atol=1e-4)
    for item in batch:  # top_db applies to each item, not to the batch's loudest
        assert item.max() - item.min() <= 80.0 + 1e-4


def test_digest_follows_the_spectrogram_settings_only():
    assert CHOI.digest() == SpectrogramConfig.model_validate(CHOI.model_dump()).digest()
    assert CHOI.model_copy(update={"n_mels": 128}).digest() != CHOI.digest()
    short, short_windows = feature_settings("features=short", "features.spectrogram.n_mels=96")
    assert short == CHOI and short_windows != CHOI_WINDOWS  # other windows share the cache
    # the resampler, a setting added later: the default keeps the hash settings had without it
    assert CHOI.resampler == "sinc" and CHOI.digest() == SpectrogramConfig.model_validate(
        {k: v for k, v in CHOI.model_dump().items() if k != "resampler"}).digest()
    assert CHOI.model_copy(update={"resampler": "kaiser_best"}).digest() != CHOI.digest()


@pytest.mark.parametrize("schema,key,value,allowed", [
    (SpectrogramConfig, "log", "log1P", "'db', 'log1p' or 'log10_fp16'"),
    (SpectrogramConfig, "resampler", "soxr", "'sinc' or 'kaiser_best'"),
    (SpectrogramConfig, "pad_mode", "zeros", "'constant' or 'reflect'"),
    (WindowConfig, "mode", "slide", "'sliding' or 'keras'"),
])
def test_an_unknown_value_is_refused_naming_the_key_and_the_allowed_values(schema, key, value, allowed):
    values = (CHOI if schema is SpectrogramConfig else CHOI_WINDOWS).model_dump()
    with pytest.raises(ValidationError) as error:
        schema.model_validate({**values, key: value})
    assert key in str(error.value) and allowed in str(error.value) and value in str(error.value)


def test_an_unknown_or_missing_key_is_refused():
    with pytest.raises(ValidationError, match="hop_lenght"):
        SpectrogramConfig.model_validate({**CHOI.model_dump(), "hop_lenght": 128})
    values = CHOI_WINDOWS.model_dump()
    del values["hop_fraction"]
    with pytest.raises(ValidationError, match="hop_fraction"):
        WindowConfig.model_validate(values)


def test_window_starts_cover_the_whole_input():
    assert window_starts(100, 40, 20) == [0, 20, 40, 60]
    assert window_starts(105, 40, 20) == [0, 20, 40, 60, 65]
    assert window_starts(30, 40, 20) == [0]


def test_short_clips_are_padded_with_the_floor():
    logmel = torch.linspace(-50, 0, 96 * 10).reshape(96, 10)
    padded = pad_frames(logmel, 25)
    assert padded.shape == (96, 25) and torch.all(padded[:, 10:] == -50)
    windows, starts = sliding_windows(logmel, 25, 12)
    assert windows.shape == (1, 1, 96, 25) and starts == [0]
    assert random_window(logmel, 25).shape == (96, 25)


def test_a_random_window_is_a_window_of_the_input():
    logmel = torch.arange(200.0).expand(4, 200)
    window = random_window(logmel, 50, torch.Generator().manual_seed(1))
    start = int(window[0, 0])
    assert torch.equal(window, logmel[:, start : start + 50])


def test_keras_windows_follow_the_old_project():
    size, trim = 100, 40
    short, starts = keras_windows(torch.ones(60), size, trim)
    assert short.shape == (1, 100) and starts == [0] and short[0, 60:].abs().sum() == 0
    clip = torch.arange(150.0)
    centre, starts = keras_windows(clip, size, trim)  # too short to trim: the centre window
    assert starts == [25] and torch.equal(centre[0], clip[25:125])
    song = torch.arange(420.0)
    windows, starts = keras_windows(song, size, trim)  # 40 dropped at both ends, 3 whole windows
    assert starts == [40, 140, 240] and torch.equal(windows[2], song[240:340])
