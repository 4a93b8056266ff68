"""Decode any audio file to one mono float32 waveform at a target sample rate, whole or in parts.

Every caller (feature cache, training, service, CLI, library indexer) decodes through this
module, so a bad file fails the same way everywhere: an `AudioDecodeError` that names the file
and the reason. Two decoders sit behind it, chosen per format by measurement
(real songs, one thread): FFmpeg (PyAV, whose wheels carry it) decodes Opus 2.8x as fast as
libsndfile, so `.opus` files go to FFmpeg first; everything else goes to libsndfile first: it
reads mp3 1.25x as fast and PCM and FLAC directly, and its Ogg Vorbis seeks are exact where
FFmpeg's frame times drift (FFmpeg decodes Vorbis 1.4x as fast, but its seeks in some files
land at the end). A file the first decoder cannot open goes to the other (libsndfile cannot
open m4a/AAC or wma). Down-mixing and resampling are this module's either way.

`open_song` reads the header only; `AudioFile.read` then decodes a stretch of it, seeking past
the rest: where an analysis uses a few windows of a song, only those seconds are decoded.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import av
import numpy as np
import soundfile as sf

from data import require_torchaudio

require_torchaudio()
import torch  # noqa: E402
from torchaudio import transforms as T  # noqa: E402

from data.probe import AudioDecodeError, UnknownFormat, check_file, libsndfile_reason, open_audio, quiet_c_stderr  # noqa: E402

# Formats FFmpeg decodes faster than libsndfile (see the module docstring).
FFMPEG_FIRST = frozenset({".opus"})
_INT16_EXACT_SUBTYPES = frozenset({"PCM_16", "PCM_S8", "PCM_U8"})
_MAX_RESAMPLER_TAPS = 1_000_000  # 96 kHz to 22050 Hz needs 94,080; 44.1 kHz to 12 kHz 5,880
_TAG_ERRORS = "replace"  # tags that are not UTF-8 must not stop the audio (PyAV's default raises)


class _Libsndfile:
    """A file open in libsndfile: seeks are sample-exact."""

    def __init__(self, handle: sf.SoundFile):
        self.handle, self.rate = handle, handle.samplerate
        self.frames: int | None = handle.frames
        # Integer PCM of 16 bits or fewer is read as int16 and scaled here: the same values as
        # libsndfile's float conversion (x / 32768), at a quarter of its cost.
        self.as_int16 = handle.subtype in _INT16_EXACT_SUBTYPES

    def read(self, path: Path, first: int, count: int) -> np.ndarray:
        """(frames, channels) float32 from sample `first`, at most `count` of them."""
        if first >= self.handle.frames:  # past the end: some formats' seeks there do not fail
            return np.zeros((0, self.handle.channels), np.float32)
        dtype = "int16" if self.as_int16 else "float32"
        try:
            with quiet_c_stderr:
                if self.handle.seek(first) == first:
                    samples = self.handle.read(count, dtype=dtype, always_2d=True)
                else:  # a header that misstates the stream (an mp3's Xing tag) misled the seek: read up to it,
                    # on a fresh handle: seeking this one back can corrupt libsndfile 1.2.2's mp3 decoder's
                    # heap, a crash of the whole process (found by the fuzzer, tests/fuzz_crashes/)
                    with sf.SoundFile(str(path)) as fresh:
                        samples = fresh.read(first + count, dtype=dtype, always_2d=True)[first:]
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioDecodeError(path, f"audio data is corrupt ({libsndfile_reason(exc)})") from None
        return samples.astype(np.float32) * np.float32(1 / 32768) if self.as_int16 else samples


class _FFmpeg:
    """The first audio stream of a file open in FFmpeg. A seek lands on a packet near the asked
    position; decoding starts a second early (Opus needs 80 ms to settle) and the samples
    before the position are dropped. Where the seek misleads (it can land after the position,
    and FFmpeg's Ogg demuxer jumps to the end of some files after a seek), the stretch is
    decoded again from the start of the file."""

    def __init__(self, path: Path, container: av.container.InputContainer, stream: av.AudioStream):
        self.path, self.container, self.stream = path, container, stream
        self.rate = stream.codec_context.sample_rate
        seconds = (float(stream.duration * stream.time_base) if stream.duration is not None and stream.time_base
                   else container.duration / av.time_base if container.duration else None)
        self.frames = round(seconds * self.rate) if seconds else None
        self.used = False  # a second read goes back, even to the start
        # Where the audio starts on the stream's clock (Opus: its pre-skip), in samples.
        self.start = round(float(stream.start_time * stream.time_base) * self.rate) if stream.start_time else 0

    def read(self, path: Path, first: int, count: int) -> np.ndarray:
        try:
            planes = None
            if first > self.rate:
                self.container.seek(int((self.start + first - self.rate) / self.rate / self.stream.time_base), stream=self.stream)
                planes = self._decode(first, count, check=True)
            if planes is None:
                if self.used or first > self.rate:
                    self._reopen()
                planes = self._decode(first, count, check=False)
            self.used = True
        except av.FFmpegError as exc:
            raise AudioDecodeError(path, f"audio data is corrupt ({exc.strerror or exc})") from None
        return np.concatenate(planes, axis=1).T if planes else np.zeros((0, 1), np.float32)

    def _decode(self, first: int, count: int, check: bool) -> list[np.ndarray] | None:
        """Planes of samples `first` to `first + count`. Positions are counted in samples from
        the first frame's time (0 where it has none; a negative time is the codec's priming,
        dropped), on the clock that starts with the audio. After a seek (`check`): None where that time is missing or after `first`, or
        where later frames' times disagree with the count."""
        # Interleaved floats: PyAV reads past the planes of planar frames of 8 or more channels (a crash).
        to_float = av.AudioResampler(format="flt", rate=self.rate)
        planes, have, at, channels = [], 0, None, None
        for frame in self.container.decode(self.stream):
            stated = round(frame.time * self.rate) - self.start if frame.time is not None else None
            if check and (stated is None or (at is None and stated > first) or (at is not None and abs(stated - at) > 1)):
                return None
            at = at if at is not None else (stated or 0)
            try:
                floats = to_float.resample(frame)
            except ValueError:  # the stream changed its channels, format or rate midway: a new resampler
                to_float = av.AudioResampler(format="flt", rate=self.rate)
                floats = to_float.resample(frame)
            if not floats:  # held back by a rate conversion
                continue
            block = np.concatenate([f.to_ndarray().reshape(-1, f.layout.nb_channels).T for f in floats], axis=1)
            channels = channels or len(block)
            if len(block) != channels:  # keep the first channel count
                block = np.repeat(block.mean(axis=0, keepdims=True), channels, axis=0)
            skip = max(0, first - at)
            at += block.shape[1]
            block = block[:, skip:][:, : count - have]
            if block.shape[1]:
                planes.append(block)
                have += block.shape[1]
            if have >= count:
                break
        return planes

    def _reopen(self) -> None:
        self.container.close()
        self.container = av.open(str(self.path), metadata_errors=_TAG_ERRORS)
        self.stream = _first_audio(self.container)

    def close(self) -> None:
        self.container.close()


class AudioFile:
    """An open song: its length from the header, and `read` for any stretch of it."""

    def __init__(self, path: Path, decoder: _Libsndfile | _FFmpeg):
        self.path, self.decoder = path, decoder

    @property
    def seconds(self) -> float | None:
        """The length the header states (None where FFmpeg finds none)."""
        return self.decoder.frames / self.decoder.rate if self.decoder.frames is not None else None

    def read(self, sample_rate: int, start: float = 0.0, stop: float | None = None,
             resampling: Resampling = "sinc") -> torch.Tensor:
        """The mono waveform from `start` to `stop` seconds (None: the end), resampled; raises
        `AudioDecodeError` for NaN or infinite samples. (Silence is the caller's to judge: a
        quiet stretch of a song is no error, a silent song is, see `check_sound`.)"""
        first = round(start * self.decoder.rate)
        count = round((stop - start) * self.decoder.rate) if stop is not None else (1 << 62)
        samples = self.decoder.read(self.path, first, count)
        if not len(samples):
            raise AudioDecodeError(self.path, "contains no audio samples")
        mono = _downmix(samples)
        if not np.isfinite(np.abs(mono).max()):
            raise AudioDecodeError(self.path, "audio contains NaN or infinite samples")
        mono = torch.from_numpy(mono)
        if self.decoder.rate != sample_rate:
            check_rate(self.path, self.decoder.rate, sample_rate)
            mono = resampler(self.decoder.rate, sample_rate, resampling)(mono)
        return mono.contiguous()


@contextlib.contextmanager
def open_song(path: str | Path, max_seconds: float | None = None) -> Iterator[AudioFile]:
    """The file open for reading after its header checks; a song over `max_seconds` is refused
    before anything is decoded."""
    path = Path(path)
    order = (_open_ffmpeg, _open_libsndfile) if path.suffix.lower() in FFMPEG_FIRST else (_open_libsndfile, _open_ffmpeg)
    with contextlib.ExitStack() as stack:
        try:
            decoder = stack.enter_context(order[0](path))
        except UnknownFormat as first_refusal:
            try:
                decoder = stack.enter_context(order[1](path))
            except UnknownFormat as second_refusal:
                # Both refused: libsndfile's reason is the more familiar one.
                raise (first_refusal if order[0] is _open_libsndfile else second_refusal) from None
        song = AudioFile(path, decoder)
        if song.seconds is not None:
            check_length(path, song.seconds, 0.0, max_seconds)
        yield song


def load_audio(path: str | Path, sample_rate: int, *, min_seconds: float = 0.5,
               max_seconds: float | None = None, resampling: Resampling = "sinc") -> torch.Tensor:
    """Return the whole file as a 1-D float32 tensor, down-mixed to mono and resampled.

    Raises `AudioDecodeError` for a missing, empty, non-audio, truncated, silent, too-short or
    too-long file. `max_seconds` is checked from the header before decoding, so an over-long
    upload costs nothing.
    """
    with open_song(path, max_seconds) as song:
        waveform = song.read(sample_rate, resampling=resampling)
    check_length(path, len(waveform) / sample_rate, min_seconds, max_seconds)
    check_sound(path, waveform)
    return waveform


def check_sound(path: str | Path, waveform: torch.Tensor) -> None:
    if float(waveform.abs().max()) < 1e-6:
        raise AudioDecodeError(path, "audio is silent")


def check_length(path: str | Path, seconds: float, min_seconds: float, max_seconds: float | None) -> None:
    """The decoded length against the limits (a header can misstate it)."""
    if seconds < min_seconds:
        raise AudioDecodeError(path, f"too short: {seconds:.2f} s, at least {min_seconds:.2f} s is needed")
    if max_seconds is not None and seconds > max_seconds:
        raise AudioDecodeError(path, f"too long: {seconds:.1f} s, the limit is {max_seconds:.0f} s")


@contextlib.contextmanager
def _open_libsndfile(path: Path) -> Iterator[_Libsndfile]:
    with open_audio(path) as handle:
        yield _Libsndfile(handle)


@contextlib.contextmanager
def _open_ffmpeg(path: Path) -> Iterator[_FFmpeg]:
    """FFmpeg's view of the file; `UnknownFormat` where it finds no audio it can decode."""
    check_file(path)
    try:
        container = av.open(str(path), metadata_errors=_TAG_ERRORS)
    except av.FFmpegError as exc:
        raise UnknownFormat(path, f"not a readable audio file ({exc.strerror or exc})") from None
    stream = _first_audio(container)
    if stream is None or stream.codec_context is None or not stream.codec_context.sample_rate:  # no decoder for it
        container.close()
        raise UnknownFormat(path, "not a readable audio file (no audio stream)")
    decoder = _FFmpeg(path, container, stream)
    try:
        yield decoder
    finally:
        decoder.close()


def _first_audio(container: av.container.InputContainer) -> av.AudioStream | None:
    return container.streams.audio[0] if container.streams.audio else None


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


def check_rate(path: str | Path, from_rate: int, to_rate: int) -> None:
    """Rates whose ratio reduces to large numbers need a resampling filter of about their product
    in taps: common rates need thousands, a header's 41116 Hz to 12 kHz 3e7 (262 GB to build)."""
    common = math.gcd(from_rate, to_rate)
    if (from_rate // common) * (to_rate // common) > _MAX_RESAMPLER_TAPS:
        raise AudioDecodeError(path, f"unsupported sample rate: {from_rate} Hz (resampling it to {to_rate} Hz costs too much)")


# "sinc": torchaudio's default band-limited sinc (Hann window). "kaiser_best": its Kaiser-window
# sinc made to match resampy's kaiser_best, the resampler librosa used until 0.10 and MSD-musicnn
# was trained with (with another one the top mel bands differ by up to 1.5 log10 units). With
# resampy's own numbers (64 zero crossings, beta 14.77, rolloff 0.9476) torchaudio passes 2.5x
# more at 7.4 kHz; rolloff 0.918 is the measured best fit: 0.19% rms difference from resampy's
# output at 22.05 kHz, 0.04% at 44.1 kHz (devtools/musicnn_fixture.py's environment has resampy).
Resampling = Literal["sinc", "kaiser_best"]
KAISER_BEST = {"lowpass_filter_width": 64, "rolloff": 0.918, "resampling_method": "sinc_interp_kaiser",
               "beta": 14.769656459379492}


@functools.lru_cache(maxsize=16)
def resampler(from_rate: int, to_rate: int, method: Resampling = "sinc") -> T.Resample:
    """torchaudio's band-limited sinc resampler with its kernel built once per rate pair
    (`torchaudio.functional.resample` rebuilds it on every call: 8x slower for a 30 s clip)."""
    return T.Resample(from_rate, to_rate, **(KAISER_BEST if method == "kaiser_best" else {}))
