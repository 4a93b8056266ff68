import math

import torch

from data.features import FeatureConfig, LogMel
from data.segments import aggregate, pad_frames, random_crop, sliding_windows, window_starts


def test_faithful_segment_is_1366_frames():
    config = FeatureConfig()
    assert config.segment_frames == 1366
    logmel = LogMel(config)(torch.randn(config.segment_samples))
    assert logmel.shape == (96, 1366)


def test_tone_lands_in_the_right_mel_band():
    config = FeatureConfig(sample_rate=16000, n_mels=64, f_max=8000)
    t = torch.arange(16000) / 16000
    logmel = LogMel(config)(torch.sin(2 * math.pi * 1000 * t))
    band = int(logmel.mean(dim=1).argmax())
    mel = LogMel(config).mel.mel_scale.fb  # (freq bins, mels)
    assert abs(band - int(mel[round(1000 / 8000 * (mel.shape[0] - 1))].argmax())) <= 1


def test_batches_are_per_item_and_match_single_calls():
    config = FeatureConfig()
    transform = LogMel(config)
    loud, quiet = torch.randn(24000), 1e-3 * torch.randn(24000)
    batch = transform(torch.stack([loud, quiet]))
    assert torch.allclose(batch[0], transform(loud), atol=1e-4)
    assert torch.allclose(batch[1], transform(quiet), atol=1e-4)
    for item in batch:  # top_db applies to each item, not to the batch's loudest
        assert item.max() - item.min() <= 80.0 + 1e-4


def test_digest_follows_the_config():
    assert FeatureConfig().digest() == FeatureConfig().digest()
    assert FeatureConfig(n_mels=128).digest() != FeatureConfig().digest()
    assert FeatureConfig.from_dict(FeatureConfig().to_dict()) == FeatureConfig()


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
    assert random_crop(logmel, 25).shape == (96, 25)


def test_random_crop_is_a_window_of_the_input():
    logmel = torch.arange(200.0).expand(4, 200)
    crop = random_crop(logmel, 50, torch.Generator().manual_seed(1))
    start = int(crop[0, 0])
    assert torch.equal(crop, logmel[:, start : start + 50])


def test_aggregate_is_the_mean_per_clip():
    values = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.2, 0.8]])
    clips = aggregate(values, torch.tensor([0, 0, 1]), 2)
    assert torch.allclose(clips, torch.tensor([[0.5, 0.5], [0.2, 0.8]]))


def test_seed_chunks_follow_the_old_project():
    from data.segments import seed_chunks

    size, trim = 100, 40
    short, starts = seed_chunks(torch.ones(60), size, trim)
    assert short.shape == (1, 100) and starts == [0] and short[0, 60:].abs().sum() == 0
    clip = torch.arange(150.0)
    centre, starts = seed_chunks(clip, size, trim)  # too short to trim: the centre chunk
    assert starts == [25] and torch.equal(centre[0], clip[25:125])
    song = torch.arange(420.0)
    chunks, starts = seed_chunks(song, size, trim)  # 40 dropped at both ends, 3 whole chunks
    assert starts == [40, 140, 240] and torch.equal(chunks[2], song[240:340])
