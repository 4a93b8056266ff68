"""Decode any audio file to one mono float32 waveform at a target sample rate.

Every caller (feature cache, training, service, CLI) decodes through `load_audio`, so a bad
file fails the same way everywhere: an `AudioDecodeError` that names the file and the reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

SUPPORTED_SUFFIXES = (".wav", ".au", ".flac", ".ogg", ".mp3")


class AudioDecodeError(ValueError):
    """A file that cannot be used as a song; `str()` names the file and why."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{Path(path).name}: {reason}")


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
    info = probe_audio(path)
    declared_seconds = info.frames / info.samplerate
    if max_seconds is not None and declared_seconds > max_seconds:
        raise AudioDecodeError(
            path, f"too long: {declared_seconds:.1f} s, the limit is {max_seconds:.0f} s"
        )
    try:
        samples, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioDecodeError(path, f"audio data is corrupt ({_libsndfile_reason(exc)})") from None
    seconds = len(samples) / file_rate
    if seconds < min_seconds:
        raise AudioDecodeError(
            path, f"too short: {seconds:.2f} s, at least {min_seconds:.2f} s is needed"
        )
    if not np.isfinite(samples).all():
        raise AudioDecodeError(path, "audio contains NaN or infinite samples")
    if np.abs(samples).max() < 1e-6:
        raise AudioDecodeError(path, "audio is silent")
    mono = torch.from_numpy(samples.mean(axis=1))
    if file_rate != sample_rate:
        mono = AF.resample(mono, file_rate, sample_rate)
    return mono.contiguous()


def probe_audio(path: str | Path):
    """Read only the header: soundfile's info, or `AudioDecodeError` if it is not usable audio."""
    path = Path(path)
    if not path.is_file():
        raise AudioDecodeError(path, "file not found")
    if path.stat().st_size == 0:
        raise AudioDecodeError(path, "file is empty (0 bytes)")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioDecodeError(path, f"not a readable audio file ({_libsndfile_reason(exc)})") from None
    if info.format == "RAW":  # libsndfile's guess for header-less bytes named .au/.raw
        raise AudioDecodeError(path, "not a readable audio file (no audio header)")
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioDecodeError(path, "contains no audio samples")
    missing = _missing_bytes(path)
    if missing > 0:
        raise AudioDecodeError(path, f"truncated: the header promises {missing} more bytes than the file holds")
    return info


def _libsndfile_reason(exc: Exception) -> str:
    text = str(exc).strip()
    # libsndfile says "File does not exist or is not a regular file" for files it cannot parse.
    if not text or "does not exist" in text or "possibly a pipe" in text:
        return "unknown or corrupt format"
    return text.splitlines()[-1].split(": ", 1)[-1]


def _missing_bytes(path: Path) -> int:
    """Bytes a WAV (RIFF) or AU header declares beyond the end of the file; 0 if unknown.

    libsndfile quietly reads a cut-off file up to where it ends, so this is checked here.
    """
    with path.open("rb") as f:
        header = f.read(24)
    size = path.stat().st_size
    if header[:4] == b"RIFF" and header[8:12] == b"WAVE":
        return int.from_bytes(header[4:8], "little") + 8 - size
    if header[:4] == b".snd" and len(header) >= 12:
        offset, length = int.from_bytes(header[4:8], "big"), int.from_bytes(header[8:12], "big")
        return 0 if length == 0xFFFFFFFF else offset + length - size
    return 0
