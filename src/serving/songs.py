"""Songs' answers, library first: the one rule the CLI and the service share.

A song the library holds (by its id, or by the path of one of its files) is answered from its
stored analysis; any other file is analysed by the network through `analyse` (the CLI's
predictor in its own process, the service's batched network call). So a library question
loads no network, and an answer never depends on who asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from library.queries import LibraryQueries, SongNotFound
from model.song import SongPrediction

SongRef = Path | int  # a file, or a library song's id


class SongAnswers:
    def __init__(self, library: LibraryQueries | None, analyse: Callable[[Path], Awaitable[SongPrediction]]):
        self.library, self.analyse = library, analyse

    async def answer(self, song: SongRef) -> SongPrediction:
        """The library's answer for `song`, else the network's; `SongNotFound` for an id the
        library does not hold."""
        if isinstance(song, int):
            if self.library is None:
                raise SongNotFound(f"no song {song}: there is no indexed library")
            return self.library.prediction(self.library.song(song))
        stored = self.library.stored(song) if self.library is not None else None
        return stored if stored is not None else await self.analyse(song)

    async def answer_each(self, songs: list[SongRef]) -> list[SongPrediction | Exception]:
        """Every song's answer or the exception it raised, in order: one bad song spoils no other."""
        return await asyncio.gather(*(self.answer(song) for song in songs), return_exceptions=True)
