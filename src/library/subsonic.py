"""A client of the Subsonic API (Navidrome, gonic, Airsonic-Advanced, supysonic): what the library
needs of a media server, its songs and their audio, the user's starred songs, playlists.

Only calls every server of the family answers: songs are listed album by album
(`getAlbumList2` paged, then `getAlbum`), audio read with `download`. The server's API version
comes from an unauthenticated `ping` (every server answers it, if only with an error), and picks
the authentication: a token (`t` = md5(password + salt), `s` = a new salt per request) from API
1.13 on, the hex-encoded password (`p=enc:...`) before (supysonic answers 1.12.0). The password
never appears in an error: errors name the server's address and the server's own message, never
a request's parameters.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import httpx

CLIENT_NAME = "genre-recsys"
TOKEN_AUTH_FROM = (1, 13)  # API versions before this take the password itself
ALBUMS_PER_PAGE = 500  # Navidrome's largest getAlbumList2 page


class SubsonicError(Exception):
    """The server refused a call (its code and message), answered something else than the API, or
    could not be reached; the message names the server."""


class SongRefused(SubsonicError):
    """One song the server would not give (its error, or a file over the size limit); the others may still come."""


@dataclass(frozen=True)
class ServerSong:
    """A song as the server lists it."""

    id: str
    title: str | None
    artist: str | None
    album: str | None
    genre: str | None  # the genre the server read from the file's tags
    path: str | None  # as the server reports it: relative to its music folder on most servers
    size: int
    created: str  # the server's time field for the song: what changes when its file is replaced
    duration: float | None
    suffix: str | None

    @staticmethod
    def of(child: dict[str, Any]) -> ServerSong:
        return ServerSong(str(child["id"]), child.get("title"), child.get("artist"), child.get("album"), child.get("genre"),
                          child.get("path"),
                          int(child.get("size") or 0), str(child.get("created") or ""), child.get("duration"),
                          child.get("suffix"))


def token(password: str, salt: str) -> str:
    """The API's token for `password` with `salt` (API 1.13 and later): md5 of the two, in hex."""
    return hashlib.md5((password + salt).encode()).hexdigest()


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


class Subsonic:
    """One user's session with a server at `url` (http or https). Connecting pings it: a wrong
    password, or a server that is down or not a Subsonic server, raises `SubsonicError`."""

    def __init__(self, url: str, user: str, password: str, timeout: float = 60.0):
        self.url, self.user = url.rstrip("/"), user
        self._password = password
        self._http = httpx.Client(timeout=timeout, follow_redirects=True)
        self.version = ""
        self.version = self._answer("ping", {}).get("version", "")
        self.call("ping")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Subsonic:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _auth(self) -> dict[str, str]:
        if _version(self.version) >= TOKEN_AUTH_FROM:
            salt = secrets.token_hex(8)
            return {"u": self.user, "t": token(self._password, salt), "s": salt}
        return {"u": self.user, "p": "enc:" + self._password.encode().hex()}

    def _params(self, params: dict[str, Any], auth: bool = True) -> dict[str, Any]:
        return {**(self._auth() if auth else {}), "v": self.version or "1.12.0", "c": CLIENT_NAME, "f": "json", **params}

    def _send(self, method: str, params: dict[str, Any], stream: bool = False) -> httpx.Response:
        """The server's response; transport failures as `SubsonicError` (httpx's messages carry no URL)."""
        request = self._http.build_request("GET", f"{self.url}/rest/{method}", params=params)
        try:
            return self._http.send(request, stream=stream)
        except httpx.HTTPError as exc:
            raise SubsonicError(f"{self.url}: {method} failed: {type(exc).__name__}: {exc}") from None

    def _answer(self, method: str, params: dict[str, Any], auth: bool = False) -> dict[str, Any]:
        """The `subsonic-response` of one call, whatever its status."""
        response = self._send(method, self._params(params, auth))
        try:
            answer = response.json()["subsonic-response"]
        except (ValueError, KeyError, TypeError):
            raise SubsonicError(f"{self.url}: {method} answered HTTP {response.status_code}, not the Subsonic API "
                                "(is this the server's address?)") from None
        return answer

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """An API call's answer; the server's error (code 40: wrong user or password) as `SubsonicError`."""
        answer = self._answer(method, params, auth=True)
        if answer.get("status") != "ok":
            error = answer.get("error") or {}
            raise SubsonicError(f"{self.url}: {method}: the server says {error.get('message', 'failed')!r} "
                                f"(Subsonic error {error.get('code', '?')})")
        return answer

    def songs(self) -> Iterator[ServerSong]:
        """Every song of the server, album by album (each once)."""
        seen: set[str] = set()
        offset = 0
        while True:
            albums = self.call("getAlbumList2", type="alphabeticalByName", size=ALBUMS_PER_PAGE,
                               offset=offset).get("albumList2", {}).get("album", [])
            for album in albums:
                for child in self.call("getAlbum", id=album["id"]).get("album", {}).get("song", []):
                    if str(child["id"]) not in seen and not child.get("isVideo"):
                        seen.add(str(child["id"]))
                        yield ServerSong.of(child)
            if len(albums) < ALBUMS_PER_PAGE:
                return
            offset += len(albums)

    def download(self, song_id: str, into: IO[bytes], max_bytes: int) -> str:
        """The song's file as the server stores it, written into `into`; its sha256. `SongRefused`
        past `max_bytes` or where the server refuses the song; `SubsonicError` where the server
        cannot be reached."""
        response = self._send("download", self._params({"id": song_id}), stream=True)
        try:
            kind = response.headers.get("content-type", "")
            if response.status_code != 200 or kind.startswith(("application/json", "text/xml", "application/xml")):
                response.read()
                error = (response.json().get("subsonic-response", {}).get("error", {})
                         if kind.startswith("application/json") else {})
                raise SongRefused(f"download refused: {error.get('message') or f'HTTP {response.status_code}'}")
            if int(response.headers.get("content-length") or 0) > max_bytes:
                raise SongRefused(f"{int(response.headers['content-length']) / 2**20:.1f} MB, over the limit of "
                                    f"{max_bytes / 2**20:g} MB")
            digest, written = hashlib.sha256(), 0
            for chunk in response.iter_bytes(1 << 20):
                written += len(chunk)
                if written > max_bytes:
                    raise SongRefused(f"over the limit of {max_bytes / 2**20:g} MB")
                digest.update(chunk)
                into.write(chunk)
            return digest.hexdigest()
        except httpx.HTTPError as exc:
            raise SubsonicError(f"{self.url}: a download broke off: {type(exc).__name__}: {exc}") from None
        finally:
            response.close()

    def starred(self) -> list[str]:
        """The ids of the user's starred songs."""
        return [str(song["id"]) for song in self.call("getStarred2").get("starred2", {}).get("song", [])]

    def playlist_songs(self, playlist_id: str) -> list[str]:
        """The ids of a playlist's songs, in order."""
        return [str(song["id"]) for song in self.call("getPlaylist", id=playlist_id).get("playlist", {}).get("entry", [])]

    def own_playlist(self, name: str) -> str | None:
        """The id of the user's own playlist of that name, if there is one."""
        for playlist in self.call("getPlaylists").get("playlists", {}).get("playlist", []):
            if playlist.get("name") == name and playlist.get("owner", self.user) == self.user:
                return str(playlist["id"])
        return None

    def save_playlist(self, name: str, song_ids: list[str]) -> str:
        """The user's playlist `name` made of `song_ids`: created, or its songs replaced; its id."""
        existing = self.own_playlist(name)
        self.call("createPlaylist", **({"playlistId": existing} if existing else {"name": name}), songId=song_ids)
        saved = existing or self.own_playlist(name)  # API 1.14 answers the playlist; older servers nothing
        if saved is None:
            raise SubsonicError(f"{self.url}: createPlaylist answered ok, but no playlist {name!r} is listed")
        return saved
