"""The command line's side of a Subsonic server (Navidrome, gonic, Airsonic, supysonic): the
songs `index URL` reads, and `playlist URL`, mixes from the library written back to the server
as the user's playlists, so they appear in every app of that server.

The password comes only from the environment (`SUBSONIC_PASSWORD`): never an argument, which
other users of the machine see in the process list, nor anything this project writes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from library.queries import LibraryQueries, SongNotFound
from library.ranking import NoFavouritesError
from library.store import Library, Song
from library.subsonic import Subsonic, SubsonicError
from serving.config import ServingConfig

if TYPE_CHECKING:
    from library.indexer import Source

PASSWORD_VARIABLE = "SUBSONIC_PASSWORD"


def is_server(text: str | None) -> bool:
    return bool(text) and text.startswith(("http://", "https://"))


def add_server_arguments(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--subsonic-user", required=required, metavar="USER",
                        help=f"the Subsonic server's user (the password: environment variable {PASSWORD_VARIABLE})")


def connect(url: str, user: str | None) -> Subsonic:
    """A session with the server as `user`, or the line that says why not, and exit."""
    password = os.environ.get(PASSWORD_VARIABLE)
    if not user:
        sys.exit(f"error: give the user of {url}: --subsonic-user USER")
    if not password:
        sys.exit(f"error: set the password of {user} on {url} in the environment variable {PASSWORD_VARIABLE} "
                 "(it is never taken from the command line)")
    try:
        return Subsonic(url, user, password)
    except SubsonicError as exc:
        sys.exit(f"error: {exc}")


@contextlib.contextmanager
def song_source(library: Library, args: argparse.Namespace, config: ServingConfig) -> Iterator[Source]:
    """What `index` reads: the server named (or the library's own, when none is named and it has
    one), else the library's folders."""
    from library.indexer import Folders, roots_to_index

    held = library.server()
    server = args.music_dir if is_server(args.music_dir) else held["url"] if args.music_dir is None and held else None
    if server is None:
        if args.subsonic_user or args.path_map:
            sys.exit("error: --subsonic-user and --path-map go with a Subsonic server's address (index http://HOST:PORT)")
        yield Folders(roots_to_index(library, args.music_dir, args.add, args.prune)[1])
        return
    from library.server_songs import PathMap, ServerSongs, server_to_index

    path_maps = [PathMap.parse(text) for text in args.path_map]
    with connect(server, args.subsonic_user or (held or {}).get("user")) as client:
        server_to_index(library, client)
        yield ServerSongs(client, path_maps, round(config.max_upload_mb * 2**20))


def playlist(args: argparse.Namespace, queries: LibraryQueries, library: Library) -> int:
    """A mix (`--from-starred`, `--similar`, `--path`) of the library's songs saved as the user's
    playlist `--name` on the server (its songs replaced if the user has one of that name), or
    printed (`--dry-run`)."""
    with connect(args.server, args.subsonic_user) as client:
        held = library.server()
        if held is None or held["url"] != client.url:
            sys.exit(f"error: the library in {library.folder} holds "
                     f"{'the songs of ' + held['url'] if held else 'folders'}, not the songs of {client.url}: index it "
                     f"first (python -m serving --library DIR index {client.url} --subsonic-user {client.user})")
        try:
            songs = mix(args, queries, client)
        except (SongNotFound, NoFavouritesError, ValueError) as exc:
            sys.exit(f"error: {exc}")
        table = Table(title=f"{args.name}: {len(songs)} songs")
        for column in ("#", "song", "genre"):
            table.add_column(column)
        table.add_column("server id", overflow="fold")
        for number, song in enumerate(songs, 1):
            table.add_row(str(number), escape(song.label()), song.genre, song.server_id)  # "[unknown]" is a name, not markup
        console = Console()
        console.print(table, soft_wrap=True)
        if args.dry_run:
            console.print(f"dry run: nothing written to {client.url}")
            return 0
        saved = client.save_playlist(args.name, [song.server_id for song in songs])
        console.print(f"playlist {args.name!r} of {client.user} on {client.url}: {len(songs)} songs (id {saved})",
                      soft_wrap=True)
    return 0


def mix(args: argparse.Namespace, queries: LibraryQueries, client: Subsonic) -> list[Song]:
    """The playlist's songs: a path of `top_k` songs, ends included; or the `top_k` best matches
    of the user's starred songs or of one song, those themselves and exact copies left out."""
    if args.path:
        return queries.path(*(queries.server_song(song_id).id for song_id in args.path), args.top_k)
    if args.from_starred:
        starred = client.starred()
        favourites = [queries.server_song(song_id) for song_id in starred if song_id in queries.by_server_id]
        if len(favourites) < len(starred):
            print(f"{len(starred) - len(favourites)} of the {len(starred)} starred songs are not in the library "
                  "(not indexed yet, or they failed): left out", file=sys.stderr)
        if not favourites:
            raise NoFavouritesError(f"{client.user} has no starred song that the library holds: star some, or index "
                                    f"{client.url} again")
    else:
        favourites = [queries.server_song(args.similar)]
    return best_distinct(queries, favourites, args.top_k)


def best_distinct(queries: LibraryQueries, favourites: list[Song], top_k: int) -> list[Song]:
    """The `top_k` best matches of `favourites`, one of each set of exact copies (the best)."""
    asked = top_k
    while True:
        matches = queries.recommend([queries.prediction(song) for song in favourites], asked).matches
        kept: dict[str, Song] = {}
        for match in matches:
            song = queries.song(match.song.song_id)
            kept.setdefault(song.content_hash, song)
        if len(kept) >= top_k or len(matches) < asked:
            return list(kept.values())[:top_k]
        asked *= 2
