"""A Subsonic server's songs as a source of the indexer (`python -m serving index URL
--subsonic-user USER`).

The server lists its songs (`library.subsonic`); each is known to the library by the server's id
(its row's `server_id`, and a path `subsonic:ID/SERVER PATH` that names it in failures), and is
unchanged while the server reports the same size and time. A song to analyse is read from its
own file where the server's path for it exists here (as it is, or through `--path-map
SERVER_PREFIX=LOCAL_PREFIX`) with the size the server reports; otherwise it is downloaded from
the server into a temporary file, at most `max_bytes` of it, removed after its analysis. Title,
artist and album are the server's, as its apps show them.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from data.file_tags import FileTags
from data.probe import AudioDecodeError
from library.indexer import IndexRefused, SongFile, ToAnalyse
from library.scan import FileState, Plan, Scan, content_hash, plan
from library.store import Library
from library.subsonic import ServerSong, SongRefused, Subsonic, SubsonicError

KEY_PREFIX = "subsonic:"


@dataclass(frozen=True)
class PathMap:
    """Where the server's music folder lies here: a path the server reports that starts with
    `server` lies under `local` (an empty `server`: the server reports paths relative to its
    music folder, as Navidrome, gonic and supysonic do)."""

    server: str
    local: str

    @staticmethod
    def parse(text: str) -> PathMap:
        server, sep, local = text.partition("=")
        if not sep or not local:
            raise ValueError(f"--path-map {text!r}: give SERVER_PREFIX=LOCAL_PREFIX (=LOCAL_PREFIX for the paths "
                             "a server reports relative to its music folder)")
        return PathMap(server.rstrip("/"), local)

    def apply(self, path: str) -> Path | None:
        if not self.server:
            return None if path.startswith("/") else Path(self.local, path)
        if path == self.server or path.startswith(self.server + "/"):
            return Path(self.local, path[len(self.server):].lstrip("/"))
        return None


def song_key(song: ServerSong) -> str:
    """The library's name for a server's song: its id first, its path on the server after."""
    return f"{KEY_PREFIX}{song.id}/{song.path or f'{song.artist} - {song.title}.{song.suffix}'}"


def _time_ns(text: str) -> int:
    try:
        return int(datetime.fromisoformat(text).timestamp() * 1e9)
    except ValueError:
        return 0


def server_to_index(library: Library, client: Subsonic) -> None:
    """Make `library` the library of `client`'s server and user, refusing (`IndexRefused`) one
    that holds folders or another server's songs."""
    held = library.server()
    if library.roots():
        raise IndexRefused(f"the library in {library.folder} holds the songs of {', '.join(library.roots())}: give the "
                           f"server's songs a library of their own (--library DIR)")
    if held is not None and held["url"] != client.url:
        raise IndexRefused(f"the library in {library.folder} holds the songs of {held['url']}, not {client.url}: "
                           "give this server a library of its own (--library DIR)")
    library.set_meta(server={"url": client.url, "user": client.user})


class ServerSongs:
    """Every song of the server `client` talks to, listed when made."""

    def __init__(self, client: Subsonic, path_maps: list[PathMap], max_bytes: int):
        self.client, self.path_maps, self.max_bytes = client, path_maps, max_bytes
        try:
            self.songs = {song_key(song): song for song in client.songs()}
        except SubsonicError as exc:
            raise IndexRefused(f"could not list the server's songs: {exc}") from None
        self.unreadable: list[str] = []
        self.read_from = Counter[str]()  # "file" or "download": how the songs analysed were read
        self._counting = threading.Lock()

    def plan(self, library: Library, threads: int) -> Plan:
        files = [FileState(key, song.size, _time_ns(song.created), song.id) for key, song in self.songs.items()]
        return plan(library, Scan(sorted(files, key=lambda f: f.path), []), threads, hash_files=False)

    def local_file(self, song: ServerSong) -> Path | None:
        """The song's own file here, if the server's path for it leads to one of the size it reports."""
        if not song.path:
            return None
        candidates = [Path(song.path)] if song.path.startswith("/") else []
        candidates += [found for mapping in self.path_maps if (found := mapping.apply(song.path)) is not None]
        for path in candidates:
            if path.is_file() and (not song.size or path.stat().st_size == song.size):
                return path
        return None

    @contextlib.contextmanager
    def read(self, item: ToAnalyse) -> Iterator[SongFile]:
        """The song's own file here, else its download; `SubsonicError` where the server cannot
        be reached (the run stops, what it analysed kept)."""
        song = self.songs[item[0].path]
        tags = FileTags(song.title, song.artist, song.album, song.genre)
        local = self.local_file(song)
        if local is not None:
            self._count("file")
            yield SongFile(str(local), content_hash(str(local)), tags)
            return
        with tempfile.NamedTemporaryFile(prefix="subsonic-", suffix=f".{song.suffix or 'audio'}") as download:
            try:
                digest = self.client.download(song.id, download, self.max_bytes)
                download.flush()
            except SongRefused as exc:  # the others may still come; a server that cannot be reached stops the run
                raise AudioDecodeError(item[0].path, f"not downloaded from {self.client.url}: {exc}") from None
            self._count("download")
            yield SongFile(download.name, digest, tags)

    def _count(self, how: str) -> None:
        with self._counting:
            self.read_from[how] += 1

    def report(self) -> list[str]:
        return [f"{len(self.songs)} songs on {self.client.url}; read {self.read_from['file']} from their files here, "
                f"downloaded {self.read_from['download']}"]
