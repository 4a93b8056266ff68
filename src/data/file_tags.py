"""A song's title, artist and album from its file tags (ID3, Vorbis comments, MP4 atoms, RIFF INFO),
read by mutagen's format-independent "easy" interface; missing or unreadable tags are None."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mutagen


@dataclass(frozen=True)
class FileTags:
    title: str | None
    artist: str | None
    album: str | None


def read_file_tags(path: str | Path) -> FileTags:
    try:
        found = mutagen.File(str(path), easy=True)
    except (mutagen.MutagenError, OSError, ValueError):
        found = None
    if found is None or found.tags is None:
        return FileTags(None, None, None)

    def first(key: str) -> str | None:
        try:
            values = found.tags.get(key)
        except (KeyError, ValueError):
            return None
        text = str(values[0]).strip() if values else ""
        return text or None

    return FileTags(first("title"), first("artist"), first("album"))
