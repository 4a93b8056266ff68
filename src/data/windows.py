"""Cut songs into the network's fixed-length input, the *window*, and nothing else.

Training takes random windows of each clip; evaluation and serving take every window of a
whole song (`song_windows`), so a song of any length becomes a batch of equal windows. How a
song is cut is a setting of its own (`WindowConfig`), apart from the spectrogram settings that
key the feature cache: changing the hop between windows rebuilds nothing. `read_windows` cuts
an open file and decodes only the audio its windows hold where the cut allows it.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from data.audio import AudioFile, check_length, check_sound
from data.features import LogMel, SpectrogramConfig
from data.schema import Schema


class WindowConfig(Schema):
    """The network's input length and how a whole song is cut (conf/features/*.yaml)."""

    seconds: float
    # Hop between the windows of a song when predicting, as a fraction of a window.
    hop_fraction: float
    # "sliding": the song's log-mel cut every hop_fraction of a window. "keras": the old Keras
    # project's cut (see keras_windows): the audio is cut first, each window's log-mel on its own.
    mode: Literal["sliding", "keras"]
    # "keras" mode drops this much at both ends of songs long enough to keep a window.
    trim_seconds: float
    # Windows per song a library analyses, evenly spread, unless `library.max_windows` says
    # otherwise; None: every window. Models packaged before this setting existed: None.
    library_windows: int | None = None

    def samples(self, spectrogram: SpectrogramConfig) -> int:
        return round(self.seconds * spectrogram.sample_rate)

    def frames(self, spectrogram: SpectrogramConfig) -> int:
        return spectrogram.frames(self.samples(spectrogram))

    def hop_frames(self, spectrogram: SpectrogramConfig) -> int:
        return max(1, round(self.frames(spectrogram) * self.hop_fraction))


def pad_frames(logmel: torch.Tensor, frames: int) -> torch.Tensor:
    """Pad (..., n_mels, t) on the right to at least `frames`, with the spectrogram's floor."""
    missing = frames - logmel.shape[-1]
    if missing <= 0:
        return logmel
    return F.pad(logmel, (0, missing), value=float(logmel.min()))


def random_window(logmel: torch.Tensor, frames: int, generator: torch.Generator | None = None) -> torch.Tensor:
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


def keras_starts(n: int, size: int, trim: int) -> list[int] | None:
    """Start samples of the old Keras project's windows in a song of `n` samples long enough
    to drop `trim` at both ends and keep a window: consecutive windows, the remainder left
    out. None for shorter songs (see keras_windows)."""
    if n < 2 * trim + size:
        return None
    return [trim + i * size for i in range((n - 2 * trim) // size)]


def keras_windows(waveform: torch.Tensor, size: int, trim: int) -> tuple[torch.Tensor, list[int]]:
    """The old Keras project's cut of a song into (n, size) audio windows, with their start samples.

    Up to one window long: zero-padded to one window. Too short to drop `trim` samples at both
    ends and keep a window (GTZAN's 30 s clips): the centre window. Longer: `keras_starts`.
    """
    n = len(waveform)
    if n <= size:
        return F.pad(waveform, (0, size - n)).unsqueeze(0), [0]
    starts = keras_starts(n, size, trim)
    if starts is None:
        start = (n - size) // 2
        return waveform[start : start + size].unsqueeze(0), [start]
    return torch.stack([waveform[s : s + size] for s in starts]), starts


def spread(count: int, most: int | None) -> list[int]:
    """Up to `most` indices of `count` items, evenly spread, first and last included."""
    if most is None or count <= most:
        return list(range(count))
    return sorted({round(i * (count - 1) / (most - 1)) for i in range(most)}) if most > 1 else [count // 2]


def song_windows(waveform: torch.Tensor, windows: WindowConfig, logmel: LogMel) -> tuple[torch.Tensor, list[float]]:
    """A whole song -> ((n, 1, n_mels, frames) network inputs, window start times in seconds)."""
    spectrogram = logmel.config
    if windows.mode == "keras":
        audio, starts = keras_windows(waveform, windows.samples(spectrogram), round(windows.trim_seconds * spectrogram.sample_rate))
        return logmel(audio).unsqueeze(1), [s / spectrogram.sample_rate for s in starts]
    return clip_windows(logmel(waveform), windows, spectrogram)


def clip_windows(logmel: torch.Tensor, windows: WindowConfig, spectrogram: SpectrogramConfig) -> tuple[torch.Tensor, list[float]]:
    """A whole clip's log-mel -> its sliding windows and their start times: what evaluation in
    training and the service both use, so a clip is judged the same way in both."""
    stacked, starts = sliding_windows(logmel, windows.frames(spectrogram), windows.hop_frames(spectrogram))
    return stacked, [spectrogram.frames_to_seconds(s) for s in starts]


def read_windows(song: AudioFile, windows: WindowConfig, logmel: LogMel, most: int | None = None,
                 min_seconds: float = 0.5) -> tuple[torch.Tensor, list[float], float]:
    """Up to `most` windows of an open song, evenly spread (None: all): (network inputs, start
    times in seconds, the song's seconds).

    Where the windows' places follow from the header's length and they do not overlap, only
    their audio is decoded and each window's log-mel computed from its own audio: the Keras cut
    (not the trimmed ends, the remainder, or the windows left out: a 4-minute song analysed in 3
    windows decodes 87 of its 240 seconds), and a sliding cut whose hop is a window or more
    when fewer than all windows are asked for (MSD-musicnn's 3 s patches: 4 patches of a
    4-minute song decode 12 s). Otherwise the song is decoded whole and cut from one log-mel.
    """
    spectrogram = logmel.config
    rate = spectrogram.sample_rate
    size = windows.samples(spectrogram)
    starts = _known_starts(song, windows, spectrogram, most)
    if starts is None:
        waveform = song.read(rate, resampling=spectrogram.resampler)
        check_length(song.path, len(waveform) / rate, min_seconds, None)
        check_sound(song.path, waveform)
        stacked, times = song_windows(waveform, windows, logmel)
        keep = spread(len(times), most)
        return stacked[keep], [times[i] for i in keep], len(waveform) / rate
    keep = spread(len(starts), most)
    pieces = []
    for run in _runs([starts[i] for i in keep], size):
        audio = song.read(rate, run[0] / rate, (run[-1] + size) / rate, spectrogram.resampler)
        audio = F.pad(audio, (0, run[-1] + size - run[0] - len(audio)))  # a header that overstated the length
        pieces += [audio[start - run[0]:start - run[0] + size] for start in run]
    audio = torch.stack(pieces)
    check_sound(song.path, audio)
    return logmel(audio).unsqueeze(1), [starts[i] / rate for i in keep], song.seconds


def _known_starts(song: AudioFile, windows: WindowConfig, spectrogram: SpectrogramConfig,
                  most: int | None) -> list[int] | None:
    """Start samples of the song's windows where they can be decoded apart (see read_windows),
    else None."""
    if song.seconds is None:
        return None
    rate = spectrogram.sample_rate
    samples = round(song.seconds * rate)
    if windows.mode == "keras":
        return keras_starts(samples, windows.samples(spectrogram), round(windows.trim_seconds * rate))
    frames, hop = windows.frames(spectrogram), windows.hop_frames(spectrogram)
    total = spectrogram.frames(samples)
    if most is None or hop < frames or total <= frames or len(window_starts(total, frames, hop)) <= most:
        return None
    return [start * spectrogram.hop_length for start in window_starts(total, frames, hop)]


def _runs(starts: list[int], size: int) -> list[list[int]]:
    """Windows grouped into stretches read at once, where less than a window lies between them
    (reading through a short gap costs less than a seek): [0, 10, 25, 50, 60] of size 10 ->
    [[0, 10, 25], [50, 60]]."""
    runs: list[list[int]] = []
    for start in starts:
        if runs and start < runs[-1][-1] + 2 * size:
            runs[-1].append(start)
        else:
            runs.append([start])
    return runs
