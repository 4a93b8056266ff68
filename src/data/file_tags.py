"""A song's title, artist, album and genre from its file tags (ID3, Vorbis comments, MP4 atoms,
ID3 chunks of WAV and AIFF), read by mutagen, missing or unreadable tags None; and the genre
field written back (`write_genre`), which rewrites the tags and never the audio data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mutagen
from mutagen.aiff import AIFF
from mutagen.id3 import ID3, TCON
from mutagen.wave import WAVE

# WAV and AIFF carry a plain ID3 tag, without mutagen's "easy" names: the frames of each field.
ID3_FRAMES = {"title": "TIT2", "artist": "TPE1", "album": "TALB", "genre": "TCON"}


@dataclass(frozen=True)
class FileTags:
    title: str | None
    artist: str | None
    album: str | None
    genre: str | None


class GenreWriteError(Exception):
    """A file whose genre field cannot be written; `str()` names the file and why."""

    def __init__(self, path: str | Path, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}")


def _open(path: str | Path):
    """mutagen's view of the file (the easy interface where it has one), None for no format it knows."""
    return mutagen.File(str(path), easy=True)


def _values(found, key: str) -> list:
    if isinstance(found.tags, ID3):
        frame = found.tags.get(ID3_FRAMES[key])
        return list(frame.text) if frame is not None else []
    try:
        return list(found.tags.get(key) or [])
    except (KeyError, ValueError):
        return []


def read_file_tags(path: str | Path) -> FileTags:
    try:
        found = _open(path)
    except (mutagen.MutagenError, OSError, ValueError):
        found = None
    if found is None or found.tags is None:
        return FileTags(None, None, None, None)

    def first(key: str) -> str | None:
        values = _values(found, key)
        text = str(values[0]).strip() if values else ""
        return text or None

    return FileTags(first("title"), first("artist"), first("album"), first("genre"))


def write_genre(path: str | Path, genre: str | None) -> None:
    """Set the file's genre field to `genre` (None: remove it), keeping every other tag."""
    try:
        found = _open(path)
        if found is None:
            raise GenreWriteError(path, "not a format whose tags can be written (mp3, ogg, opus, flac, m4a, wav, aiff)")
        if found.tags is None:
            found.add_tags()
        if isinstance(found, (WAVE, AIFF)):
            found.tags.delall("TCON")
            if genre:
                found.tags.add(TCON(encoding=3, text=[genre]))
        elif genre:
            found.tags["genre"] = [genre]
        elif "genre" in found.tags:
            del found.tags["genre"]
        found.save()
    except GenreWriteError:
        raise
    except (mutagen.MutagenError, OSError, ValueError) as exc:
        raise GenreWriteError(path, str(exc) or type(exc).__name__) from exc
