"""Decode any audio file to one mono float32 waveform at a target sample rate.

Every caller (feature cache, training, service, CLI, library indexer) decodes through
`load_audio`, so a bad file fails the same way everywhere: an `AudioDecodeError` that names the
file and the reason. libsndfile (soundfile) reads wav, au, flac, ogg/Opus and mp3; what it does
not recognise (m4a/AAC, what most stores sell; wma, ...) goes to FFmpeg through PyAV, whose
wheels carry FFmpeg. Down-mixing and resampling are this module's either way.
"""

from __future__ import annotations

import functools
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from data import require_torchaudio

require_torchaudio()
import torch  # noqa: E402
from torchaudio import transforms as T  # noqa: E402

from data.probe import AudioDecodeError, UnknownFormat, libsndfile_reason, open_audio  # noqa: E402


_INT16_EXACT_SUBTYPES = frozenset({"PCM_16", "PCM_S8", "PCM_U8"})


def load_audio(
    path: str | Path,
    sample_rate: int,
    *,
    min_seconds: float = 0.5,
    max_seconds: float | None = None,
) -> torch.Tensor:
    """Return a 1-D float32 tensor of the file's audio, down-mixed to mono and resampled.

    Raises `AudioDecodeError` for a missing, empty, non-audio, truncated, silent, too-short or
    too-long file. `max_seconds` is checked from the header before decoding, so an over-long
    upload costs nothing.
    """
    path = Path(path)
    try:
        samples, file_rate = _read_libsndfile(path, max_seconds)
    except UnknownFormat as unknown:
        samples, file_rate = _read_ffmpeg(path, max_seconds, unknown)
    seconds = len(samples) / file_rate
    if seconds < min_seconds:
        raise AudioDecodeError(
            path, f"too short: {seconds:.2f} s, at least {min_seconds:.2f} s is needed"
        )
    mono = _downmix(samples)
    peak = np.abs(mono).max()
    if not np.isfinite(peak):
        raise AudioDecodeError(path, "audio contains NaN or infinite samples")
    if peak < 1e-6:
        raise AudioDecodeError(path, "audio is silent")
    mono = torch.from_numpy(mono)
    if file_rate != sample_rate:
        mono = resampler(file_rate, sample_rate)(mono)
    return mono.contiguous()


def _read_libsndfile(path: Path, max_seconds: float | None) -> tuple[np.ndarray, int]:
    """(frames, channels) float32 samples and their rate."""
    with open_audio(path) as f:
        _check_length(path, f.frames / f.samplerate, max_seconds)
        # Integer PCM of 16 bits or fewer is read as int16 and scaled here: the same values as
        # libsndfile's float conversion (x / 32768), at a quarter of its cost.
        as_int16 = f.subtype in _INT16_EXACT_SUBTYPES
        try:
            samples = f.read(dtype="int16" if as_int16 else "float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioDecodeError(path, f"audio data is corrupt ({libsndfile_reason(exc)})") from None
        if as_int16:
            samples = samples.astype(np.float32) * np.float32(1 / 32768)
        return samples, f.samplerate


def _read_ffmpeg(path: Path, max_seconds: float | None, unknown: UnknownFormat) -> tuple[np.ndarray, int]:
    """The first audio stream through FFmpeg, as planar float32 at the stream's own rate. A file
    FFmpeg cannot read either keeps libsndfile's reason (the more familiar one)."""
    try:
        with av.open(str(path)) as container:
            stream = next((s for s in container.streams if s.type == "audio"), None)
            if stream is None or not stream.codec_context.sample_rate:
                raise unknown
            rate = stream.codec_context.sample_rate
            if stream.duration is not None and stream.time_base is not None:
                _check_length(path, float(stream.duration * stream.time_base), max_seconds)
            to_float = av.AudioResampler(format="fltp", rate=rate)
            planes = [plane.to_ndarray() for frame in container.decode(stream) for plane in to_float.resample(frame)]
            planes += [plane.to_ndarray() for plane in to_float.resample(None)]
    except av.FFmpegError as exc:
        if isinstance(exc, av.error.InvalidDataError):
            raise unknown from None
        raise AudioDecodeError(path, f"audio data is corrupt ({exc.strerror or exc})") from None
    if not planes:
        raise AudioDecodeError(path, "contains no audio samples")
    samples = np.ascontiguousarray(np.concatenate(planes, axis=1).T, dtype=np.float32)
    _check_length(path, len(samples) / rate, max_seconds)
    return samples, rate


def _check_length(path: Path, seconds: float, max_seconds: float | None) -> None:
    if max_seconds is not None and seconds > max_seconds:
        raise AudioDecodeError(path, f"too long: {seconds:.1f} s, the limit is {max_seconds:.0f} s")


def _downmix(samples: np.ndarray) -> np.ndarray:
    """(frames, channels) -> (frames,), the channels' mean, summed column by column: numpy's mean
    over a short last axis is 30x slower, and a BLAS product wakes OpenBLAS threads that then
    spin against torch's threads on the same cores."""
    mono = samples[:, 0].copy()
    for channel in range(1, samples.shape[1]):
        mono += samples[:, channel]
    if samples.shape[1] > 1:
        mono *= np.float32(1 / samples.shape[1])
    return mono


@functools.lru_cache(maxsize=16)
def resampler(from_rate: int, to_rate: int) -> T.Resample:
    """torchaudio's band-limited sinc resampler with its kernel built once per rate pair
    (`torchaudio.functional.resample` rebuilds it on every call: 8x slower for a 30 s clip)."""
    return T.Resample(from_rate, to_rate)
