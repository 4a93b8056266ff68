"""Cut log-mel spectrograms into fixed-length segments and pool segment outputs per song.

Training takes one random crop per clip and step; evaluation and serving take every sliding
window, so a song of any length becomes a batch of equal segments for the network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from data.features import FeatureConfig, LogMel


def pad_frames(logmel: torch.Tensor, frames: int) -> torch.Tensor:
    """Pad (..., n_mels, t) on the right to at least `frames`, with the spectrogram's floor."""
    missing = frames - logmel.shape[-1]
    if missing <= 0:
        return logmel
    return F.pad(logmel, (0, missing), value=float(logmel.min()))


def random_crop(logmel: torch.Tensor, frames: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """One random window of `frames` from (n_mels, t); short inputs are padded first."""
    logmel = pad_frames(logmel, frames)
    start = int(torch.randint(0, logmel.shape[-1] - frames + 1, (1,), generator=generator))
    return logmel[..., start : start + frames]


def window_starts(total_frames: int, frames: int, hop: int) -> list[int]:
    """Start frames of sliding windows that cover the whole input, the last one flush with its end."""
    if total_frames <= frames:
        return [0]
    starts = list(range(0, total_frames - frames + 1, hop))
    if starts[-1] + frames < total_frames:
        starts.append(total_frames - frames)
    return starts


def sliding_windows(logmel: torch.Tensor, frames: int, hop: int) -> tuple[torch.Tensor, list[int]]:
    """(n_mels, t) -> ((n, 1, n_mels, frames) windows, their start frames)."""
    logmel = pad_frames(logmel, frames)
    starts = window_starts(logmel.shape[-1], frames, hop)
    windows = torch.stack([logmel[..., s : s + frames] for s in starts]).unsqueeze(1)
    return windows, starts


def aggregate(segment_values: torch.Tensor, clip_index: torch.Tensor, n_clips: int) -> torch.Tensor:
    """Mean of per-segment rows (probabilities or embeddings) for each clip id in `clip_index`."""
    sums = torch.zeros(n_clips, segment_values.shape[-1], dtype=segment_values.dtype, device=segment_values.device)
    sums.index_add_(0, clip_index, segment_values)
    counts = torch.bincount(clip_index, minlength=n_clips).clamp_min(1).unsqueeze(1)
    return sums / counts.to(sums.dtype)


def seed_chunks(waveform: torch.Tensor, size: int, trim: int) -> tuple[torch.Tensor, list[int]]:
    """The old project's cut of a song into (n, size) audio chunks, with their start samples.

    Up to one chunk long: zero-padded to one chunk. Too short to drop `trim` samples at both
    ends and keep a chunk (GTZAN's 30 s clips): the centre chunk. Longer: `trim` dropped at
    both ends, then consecutive chunks, the remainder left out.
    """
    n = len(waveform)
    if n <= size:
        return F.pad(waveform, (0, size - n)).unsqueeze(0), [0]
    if n < 2 * trim + size:
        start = (n - size) // 2
        return waveform[start : start + size].unsqueeze(0), [start]
    starts = [trim + i * size for i in range((n - 2 * trim) // size)]
    return torch.stack([waveform[s : s + size] for s in starts]), starts


def song_windows(waveform: torch.Tensor, config: FeatureConfig, logmel: LogMel) -> tuple[torch.Tensor, list[float]]:
    """A whole song -> ((n, 1, n_mels, frames) network inputs, window start times in seconds)."""
    if config.windowing == "seed":
        chunks, starts = seed_chunks(waveform, config.segment_samples, round(config.trim_seconds * config.sample_rate))
        return logmel(chunks).unsqueeze(1), [s / config.sample_rate for s in starts]
    windows, starts = sliding_windows(logmel(waveform), config.segment_frames, config.eval_hop_frames)
    return windows, [config.frames_to_seconds(s) for s in starts]
