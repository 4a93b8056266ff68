"""Is a file usable audio? Header checks through libsndfile, without decoding and without
torch, so listing and checking a data set (`data.folders`, `python -m data.gtzan_check`) stays
cheap. `data.audio.load_audio` opens files through the same checks.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Iterator
from pathlib import Path

import soundfile as sf

# Audio files by name: what libsndfile reads, and what only FFmpeg reads (data.audio falls back
# to it), so the header checks here cannot judge those.
FFMPEG_ONLY_SUFFIXES = frozenset({".m4a", ".aac", ".mp4", ".wma"})
AUDIO_SUFFIXES = frozenset({".wav", ".au", ".aif", ".aiff", ".flac", ".ogg", ".oga", ".opus", ".mp3"}) | FFMPEG_ONLY_SUFFIXES


class _QuietCStderr:
    """libsndfile decodes mp3 with libmpg123, which prints a note on every damaged frame it skips
    ("Note: Illegal Audio-MPEG-Header ...") to the C library's `stderr` stream; libsndfile has no
    setting to quiet it. While any thread is in libsndfile, that stream points at /dev/null.
    Python's own output (sys.stderr, logging, faulthandler) writes to file descriptor 2 itself and
    is untouched. Where the C library's `stderr` cannot be found (not glibc), nothing changes."""

    def __init__(self) -> None:
        self.lock, self.users = threading.Lock(), 0
        libc = ctypes.CDLL(None)
        try:
            self.stream = ctypes.c_void_p.in_dll(libc, "stderr")
        except ValueError:
            self.stream = None
            return
        libc.fopen.restype, libc.fopen.argtypes = ctypes.c_void_p, (ctypes.c_char_p, ctypes.c_char_p)
        self.null, self.saved = libc.fopen(b"/dev/null", b"w"), None

    def __enter__(self) -> None:
        with self.lock:
            self.users += 1
            if self.users == 1 and self.stream is not None:
                self.saved, self.stream.value = self.stream.value, self.null

    def __exit__(self, *exc) -> None:
        with self.lock:
            self.users -= 1
            if self.users == 0 and self.stream is not None:
                self.stream.value = self.saved


quiet_c_stderr = _QuietCStderr()


class AudioDecodeError(ValueError):
    """A file that cannot be used as a song; `str()` names the file and why."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{Path(path).name}: {reason}")


class UnknownFormat(AudioDecodeError):
    """libsndfile does not recognise the file; FFmpeg may."""


@contextlib.contextmanager
def open_audio(path: str | Path) -> Iterator[sf.SoundFile]:
    """The file opened once for reading, after the header checks; `AudioDecodeError` if it is
    not usable audio. (Opening twice costs a second scan of compressed files.)"""
    path = Path(path)
    check_file(path)
    try:
        with quiet_c_stderr:
            handle = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise UnknownFormat(path, f"not a readable audio file ({libsndfile_reason(exc)})") from None
    with handle:
        if handle.format == "RAW":  # libsndfile's guess for header-less bytes named .au/.raw
            raise AudioDecodeError(path, "not a readable audio file (no audio header)")
        if handle.frames <= 0 or handle.samplerate <= 0:
            raise AudioDecodeError(path, "contains no audio samples")
        missing = _missing_bytes(path)
        if missing > 0:
            raise AudioDecodeError(path, f"truncated: the header promises {missing} more bytes than the file holds")
        yield handle


def check_file(path: Path) -> None:
    """A file that exists and holds bytes: what either decoder needs before it opens it."""
    if not path.is_file():
        raise AudioDecodeError(path, "file not found")
    if path.stat().st_size == 0:
        raise AudioDecodeError(path, "file is empty (0 bytes)")


def probe_audio(path: str | Path) -> None:
    """Check the header only; `AudioDecodeError` if the file is not usable audio."""
    with open_audio(path):
        pass


def libsndfile_reason(exc: Exception) -> str:
    text = str(exc).strip()
    # libsndfile says "Format not recognised", or for a file that looked like mp3 "File does not
    # exist or is not a regular file", for files it cannot parse: one reason for both.
    if not text or "not recognised" in text or "does not exist" in text or "possibly a pipe" in text:
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
