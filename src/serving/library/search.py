"""Finding library songs by what a person remembers of them: words of the title, artist, album
or file name, in any case and order."""

from __future__ import annotations

from collections.abc import Iterable

from model.predict import genre_shares
from serving.library.store import Song
from serving.responses import LibrarySearch, LibrarySong


def matches(song: Song, words: list[str]) -> bool:
    """Every word is part of the song's title, artist, album or file name (case-insensitive)."""
    text = " ".join(part for part in (song.title, song.artist, song.album, song.name) if part).casefold()
    return all(word in text for word in words)


def search_library(songs: Iterable[Song], labels: list[str], query: str, limit: int) -> LibrarySearch:
    """The first `limit` matching songs ordered by "artist - title" (or file name); all songs for
    an empty query. `total` counts every match."""
    words = query.casefold().split()
    found = sorted((s for s in songs if matches(s, words)), key=lambda s: s.label().casefold())
    return LibrarySearch(total=len(found), songs=[
        LibrarySong(id=s.id, file=s.name, title=s.title, artist=s.artist, album=s.album, genre=s.genre,
                    probabilities=genre_shares(labels, s.probabilities), duration=round(s.duration, 3))
        for s in found[:limit]
    ])
