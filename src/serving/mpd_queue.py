"""MPD's queue follows the song: the library songs most like the one playing are queued right
after it, and with `--follow` again at every change of song (blissify does this for bliss-rs).

MPD names songs by their path under its `music_directory`; `music_dir` is where that folder is
on this machine. Songs this follower queued and that have not played yet make way for the
songs like the next one playing, so the queue stays `add` songs deep instead of growing; songs
a person queued are never touched, nor queued again, nor the ones played lately.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mpd import CommandError, MPDClient
from mpd import ConnectionError as MPDConnectionError

from data.probe import AudioDecodeError
from library.queries import LibraryQueries
from library.ranking import Match
from model.song import SongPrediction

RECONNECT_SECONDS = 2.0  # how often a follower knocks while the daemon is away


class MPDError(Exception):
    """MPD cannot be reached, or refused a command (a wrong password)."""


@dataclass
class Fill:
    playing: str  # the song playing, as MPD names it
    analysed: bool  # not in the library: analysed on the fly
    queued: list[tuple[str, Match]]  # (MPD path, match) in queue order, right after the playing song
    unknown: list[str]  # library songs MPD's database lacks (its folder not updated since)


class MPDLink:
    """One daemon at `host:port` (password from the caller): connects, and says what failed in one line."""

    def __init__(self, host: str, port: int, password: str | None):
        self.host, self.port, self.password = host, port, password

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def connect(self) -> MPDClient:
        client = MPDClient()
        client.timeout = 10
        client.idletimeout = None  # idle waits for the next song as long as it takes
        try:
            client.connect(self.host, self.port)
            if self.password:
                client.password(self.password)
        except CommandError as exc:
            client.disconnect()
            raise MPDError(f"MPD at {self.address} refused: {exc}") from exc
        except (OSError, MPDConnectionError) as exc:
            raise MPDError(f"cannot reach MPD at {self.address}: {exc}") from exc
        return client


class QueueFollower:
    """Fills MPD's queue after the playing song from the library's answers."""

    def __init__(self, queries: LibraryQueries, music_dir: Path, add: int, recent: int,
                 analyse: Callable[[Path], SongPrediction]):
        """`recent`: how many songs played lately are not queued again; `analyse`: the answer for a
        file the library does not hold (the model loads on first use)."""
        self.queries, self.music_dir, self.add, self.analyse = queries, music_dir.resolve(), add, analyse
        self.ours: set[str] = set()  # the songs this follower queued, as MPD names them (its ids change on restart)
        self.played: deque[int] = deque(maxlen=recent)  # library ids of the songs it followed

    def fill(self, client: MPDClient) -> Fill | None:
        """Queue `add` songs like the playing one right after it; None when nothing is playing."""
        current = client.currentsong()
        if not current:
            return None
        file = current["file"]
        seed = self.queries.stored(self.music_dir / file)
        analysed = seed is None
        if seed is None:
            seed = self.analyse(self.music_dir / file)
        elif seed.song_id is not None:
            self.played.append(seed.song_id)
        position = int(current["pos"])
        for item in client.playlistinfo()[position + 1:]:
            if item["file"] in self.ours:
                client.deleteid(item["id"])
        self.ours.clear()
        queued_files = {item["file"] for item in client.playlistinfo()}
        ranking = self.queries.recommend([seed], self.add, exclude=self._excluded(queued_files))
        queued, unknown = [], []
        for match in ranking.matches:
            uri = self.uri(match.song.path)
            try:
                client.addid(uri, position + 1 + len(queued))
            except CommandError:
                unknown.append(uri)
                continue
            queued.append((uri, match))
            self.ours.add(uri)
        return Fill(file, analysed, queued, unknown)

    def uri(self, path: str) -> str:
        return Path(path).resolve().relative_to(self.music_dir).as_posix()

    def _excluded(self, queued_files: set[str]) -> set[int]:
        """Library songs not to queue: in the queue already, played lately, or outside MPD's folder."""
        excluded = set(self.played)
        for song in self.queries.songs.values():
            path = Path(song.path)
            if not path.is_relative_to(self.music_dir) or path.relative_to(self.music_dir).as_posix() in queued_files:
                excluded.add(song.id)
        return excluded


def follow(link: MPDLink, follower: QueueFollower, say: Callable[[str], None], once: bool) -> None:
    """Fill the queue now and, unless `once`, at every change of song until interrupted; a daemon
    that goes away is waited for, and the queue filled again when it is back."""
    client = link.connect()
    last = None
    while True:
        try:
            current = client.currentsong().get("id")
            if current != last:
                try:
                    say_fill(follower.fill(client), say)
                except AudioDecodeError as exc:
                    say(f"cannot analyse the song playing: {exc}; nothing queued")
                last = current
            if once:
                client.disconnect()
                return
            client.idle("player")
        except (OSError, MPDConnectionError) as exc:
            say(f"lost MPD at {link.address} ({exc or 'connection closed'}); reconnecting")
            client = reconnect(link)
            last = None
            say(f"reconnected to MPD at {link.address}")


def reconnect(link: MPDLink) -> MPDClient:
    while True:
        try:
            return link.connect()
        except MPDError:
            time.sleep(RECONNECT_SECONDS)


def say_fill(fill: Fill | None, say: Callable[[str], None]) -> None:
    if fill is None:
        say("MPD is playing nothing: nothing queued")
        return
    say(f"playing {fill.playing}{' (not in the library: analysed now)' if fill.analysed else ''}; "
        f"queued {len(fill.queued)} like it after it:")
    for number, (uri, match) in enumerate(fill.queued, 1):
        say(f"  {number}. {uri}  {match.song.genre}  {match.score:.3f}  {match.reason}")
    if fill.unknown:
        say(f"  not in MPD's database (update it: mpc update): {', '.join(fill.unknown)}")
