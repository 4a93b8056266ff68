"""A Subsonic server's music: indexed through the API, mixes written back as playlists, songs asked
for by the server's ids over HTTP. Against a real server: supysonic (the `dev` extra) under
waitress on 127.0.0.1, its music folder made of generated songs, real recordings of
../shared/audio and real GTZAN clips of ../shared/gtzan_mini, scanned by supysonic itself.

The tests of this module share one server and run in order: the last ones change its music."""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from conftest import bentoml_server, rows, run_module, shared_path
from data.synthetic import generate
from library.subsonic import Subsonic, token
from local_server import free_port
from supysonic_server import supysonic_server

USER = "alice"
PASSWORD = "Zq8 correct&horse=staple"  # spaces, & and = : sent as they must be
SECRETS = (PASSWORD, PASSWORD.encode().hex(), "correct&horse")  # nothing of it anywhere
OUTPUTS: list[str] = []  # everything the commands printed and the playlists they wrote: searched for the password at the end


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> Path:
    """2 generated songs per genre, one exact copy under another name, 3 real recordings and one
    real GTZAN clip per genre."""
    audio, gtzan = shared_path("audio"), shared_path("gtzan_mini", "genres")
    root = tmp_path_factory.mktemp("server_music")
    generate(root / "generated", clips_per_genre=2, seconds=20.0, seed=5)
    shutil.copy(next(root.rglob("metal.00000.wav")), root / "generated" / "metal copy.wav")
    (root / "real").mkdir()
    for name in ("sad.ogg", "elf-land.ogg", "machine_wars.mp3"):
        shutil.copy(audio / name, root / "real" / name)
    for genre in gtzan.iterdir():
        clip = sorted(genre.iterdir())[0]
        shutil.copy(clip, root / "real" / clip.name)
    return root


@pytest.fixture(scope="module")
def server(music, tmp_path_factory):
    with supysonic_server(tmp_path_factory.mktemp("supysonic"), music, USER, PASSWORD) as running:
        yield running


@pytest.fixture(scope="module")
def api(server):
    with Subsonic(server.url, USER, PASSWORD) as client:
        yield client


def audio_files(music: Path) -> list[Path]:
    """The songs of the server's folder (supysonic lists wav, ogg and mp3, not GTZAN's .au)."""
    return [p for p in music.rglob("*") if p.suffix in (".wav", ".ogg", ".mp3")]


def serving(env: dict, folder: Path, *args: str, password: str = PASSWORD, check: bool = True):
    """`python -m serving ARGS` with the password in the environment, its output kept for the last test."""
    done = run_module("serving", *args, cwd=folder, env={**env, "SUBSONIC_PASSWORD": password}, check=check)
    OUTPUTS.extend((done.stdout, done.stderr))
    return done


def index(server, library: Path, env: dict, *more: str, check: bool = True):
    return serving(env, library.parent, "--library", str(library), "index", server.url, "--subsonic-user", USER, *more,
                   check=check)


@pytest.fixture(scope="module")
def downloaded(server, packaged, tmp_path_factory) -> tuple[Path, str]:
    """The server's songs indexed through the API alone (the paths it reports are relative to its
    folder, which this process does not know): the library folder and what the command printed."""
    library = tmp_path_factory.mktemp("libraries") / "downloaded"
    return library, index(server, library, packaged).stdout


def test_a_server_is_indexed_through_the_api_by_download_and_a_second_run_analyses_nothing(
        downloaded, server, api, music, packaged):
    library, printed = downloaded
    listed = {song.id: song for song in api.songs()}
    files = audio_files(music)
    assert len(listed) == len(files)
    assert f"analysed {len(files)}, unchanged 0" in printed and "failed 0" in printed
    assert f"{len(files)} songs on {server.url}; read 0 from their files here, downloaded {len(files)}" in printed
    stored = rows(library, "SELECT server_id, title, artist, album, size, path, duration FROM songs")
    assert {row[0] for row in stored} == set(listed)
    for server_id, title, artist, album, size, path, duration in stored:
        song = listed[server_id]
        assert (title, artist, album, size) == (song.title, song.artist, song.album, song.size)
        assert path == f"subsonic:{server_id}/{song.path}" and duration == pytest.approx(song.duration, abs=1)
    sad = next(row for row in stored if row[5].endswith("sad.ogg"))
    assert sad[1:3] == ("Sad", "Tyler Johnson")  # the server's tags, as its apps show them

    again = index(server, library, packaged).stdout
    assert f"analysed 0, unchanged {len(files)}" in again and "downloaded 0" in again
    # named by the library alone: it knows its server and user
    alone = serving(packaged, library.parent, "--library", str(library), "index").stdout
    assert f"analysed 0, unchanged {len(files)}" in alone


def test_songs_whose_server_paths_lie_here_are_read_from_their_files(downloaded, server, music, packaged):
    library = downloaded[0].parent / "path-mapped"
    printed = index(server, library, packaged, "--path-map", f"={music}").stdout
    files = len(audio_files(music))
    assert f"read {files} from their files here, downloaded 0" in printed
    hashes = "SELECT server_id, content_hash FROM songs ORDER BY server_id"
    assert rows(library, hashes) == rows(downloaded[0], hashes)  # the same files, whichever way they came

    mismatch = index(server, downloaded[0].parent / "wrong-map", packaged, "--path-map", "/elsewhere=/nowhere").stdout
    assert f"read 0 from their files here, downloaded {files}" in mismatch
    refused = serving(packaged, music, "--library", str(library), "index", str(music), check=False)
    assert refused.returncode and f"holds the songs of {server.url}" in refused.stderr


def test_a_wrong_password_or_a_server_that_is_down_stops_with_one_line(server, packaged, tmp_path):
    wrong = serving(packaged, tmp_path, "--library", str(tmp_path / "library"), "index", server.url, "--subsonic-user",
                    USER, password="not the password", check=False)
    assert wrong.returncode and wrong.stderr.strip().splitlines() == [
        f"error: {server.url}: ping: the server says 'Wrong username or password.' (Subsonic error 40)"]
    down = f"http://127.0.0.1:{free_port()}"
    gone = serving(packaged, tmp_path, "--library", str(tmp_path / "library"), "index", down, "--subsonic-user", USER,
                   check=False)
    assert gone.returncode and re.fullmatch(rf"error: {down}: ping failed: ConnectError: .*refused.*\n", gone.stderr)
    unset = serving(packaged, tmp_path, "--library", str(tmp_path / "library"), "index", server.url, "--subsonic-user",
                    USER, password="", check=False)
    assert unset.returncode and "in the environment variable SUBSONIC_PASSWORD" in unset.stderr


def test_servers_of_api_1_13_or_later_get_a_token_older_ones_the_encoded_password(server):
    """supysonic answers 1.12.0, so it gets `p=enc:HEX`; Navidrome, gonic and Airsonic (1.16.1)
    get `t` = md5(password + salt) with a new salt `s` every request, and never the password. No
    server of API 1.13 or later installs here: the token is checked against the API's own example."""
    assert token("sesame", "c19b2d") == "26719a1196d2a940705a59634eb18eab"  # subsonic.org/pages/api.jsp
    with Subsonic(server.url, USER, PASSWORD) as client:
        assert client.version == "1.12.0" and client._auth() == {"u": USER, "p": "enc:" + PASSWORD.encode().hex()}
        client.version = "1.16.1"
        first, second = client._auth(), client._auth()
    assert first["t"] == token(PASSWORD, first["s"]) and first["s"] != second["s"]
    assert set(first) == {"u", "t", "s"} and PASSWORD not in str(first)


def playlist_table(printed: str) -> list[str]:
    """The server ids of the songs a `playlist` command printed, in order (the last column, folded)."""
    ids, current = [], None
    for line in printed.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) == 4 and cells[0].isdigit():
            current = [cells[3]]
            ids.append(current)
        elif len(cells) == 4 and current is not None and not cells[0]:
            current.append(cells[3])
    return ["".join(parts) for parts in ids]


def test_a_starred_mix_and_a_path_become_the_users_playlists(downloaded, server, api, packaged):
    library = downloaded[0]
    by_file = {Path(path).name: server_id for server_id, path in rows(library, "SELECT server_id, path FROM songs")}
    copies = dict(rows(library, "SELECT server_id, content_hash FROM songs"))
    starred = [by_file["sad.ogg"], by_file["metal.00001.wav"]]
    for song_id in starred:
        api.call("star", id=song_id)

    def mix(*args: str) -> list[str]:
        done = serving(packaged, library.parent, "--library", str(library), "playlist", server.url, "--subsonic-user",
                       USER, *args)
        return playlist_table(done.stdout)

    dry = mix("--name", "Starred mix", "--top-k", "6", "--from-starred", "--dry-run")
    assert len(dry) == 6 and api.own_playlist("Starred mix") is None  # printed, nothing written
    shown = mix("--name", "Starred mix", "--top-k", "6", "--from-starred")
    first = api.own_playlist("Starred mix")
    assert api.playlist_songs(first) == shown == dry
    assert not set(shown) & set(starred) and len({copies[i] for i in shown}) == 6  # no favourite, no two copies

    shorter = mix("--name", "Starred mix", "--top-k", "3", "--from-starred")
    assert api.own_playlist("Starred mix") == first and api.playlist_songs(first) == shorter == shown[:3]  # replaced

    walk = mix("--name", "Metal to classical", "--top-k", "5", "--path", by_file["metal.00000.wav"],
               by_file["classical.00000.wav"])
    read_back = api.playlist_songs(api.own_playlist("Metal to classical"))
    assert read_back == walk and len(walk) == 5 and walk[0] == by_file["metal.00000.wav"]
    assert walk[-1] == by_file["classical.00000.wav"] and len({copies[i] for i in walk}) == 5

    similar = mix("--name", "Like sad", "--top-k", "4", "--similar", by_file["sad.ogg"])
    assert api.playlist_songs(api.own_playlist("Like sad")) == similar and by_file["sad.ogg"] not in similar
    OUTPUTS.extend(str(api.call("getPlaylist", id=p["id"])) for p in api.call("getPlaylists")["playlists"]["playlist"])
    unknown = serving(packaged, library.parent, "--library", str(library), "playlist", server.url, "--subsonic-user",
                      USER, "--name", "x", "--similar", "no-such-id", check=False)
    assert unknown.returncode and unknown.stderr.strip() == "error: no song with the server's id 'no-such-id' in the library"


def test_the_service_answers_by_the_servers_ids(downloaded, packaged, tmp_path):
    library = downloaded[0]
    by_file = {Path(path).name: (song_id, server_id)
               for song_id, server_id, path in rows(library, "SELECT id, server_id, path FROM songs")}
    (metal_id, metal), (classical_id, classical) = by_file["metal.00000.wav"], by_file["classical.00000.wav"]
    with bentoml_server(packaged, tmp_path, f"library:\n  path: {library}\n") as client:
        by_server = client.post("/similar", json={"server_id": metal, "top_k": 3})
        by_library = client.post("/similar", json={"song_id": metal_id, "top_k": 3})
        assert by_server.status_code == 200, by_server.text
        assert by_server.json()["recommendations"] == by_library.json()["recommendations"]
        walked = client.post("/path", json={"from_server_id": metal, "to_server_id": classical, "steps": 4})
        assert walked.status_code == 200, walked.text
        mixed = client.post("/path", json={"from_server_id": metal, "to_id": classical_id, "steps": 4})
        assert [s["id"] for s in walked.json()["songs"]] == [s["id"] for s in mixed.json()["songs"]]
        assert walked.json()["songs"][0]["id"] == metal_id and walked.json()["songs"][-1]["id"] == classical_id
        missing = client.post("/similar", json={"server_id": "no-such-id"})
        assert missing.status_code == 404 and "no song with the server's id 'no-such-id'" in missing.text
        twice = client.post("/path", json={"from_id": metal_id, "from_server_id": metal, "to_id": classical_id})
        assert twice.status_code == 400 and "give one of from_id or from_server_id" in twice.text
        audio = client.get("/library/audio", params={"song_id": metal_id})  # the server's apps play it
        assert audio.status_code == 404 and "is on http://127.0.0.1:" in audio.text


def test_a_song_removed_or_changed_on_the_server_is_removed_or_analysed_again(downloaded, server, music, packaged):
    library = downloaded[0]
    before = dict(rows(library, "SELECT path, content_hash FROM songs"))
    (music / "real" / "elf-land.ogg").unlink()
    changed = music / "generated" / "genres_original" / "jazz" / "jazz.00001.wav"
    generate(music / "other", clips_per_genre=1, seconds=12.0, seed=9)
    shutil.copy(next((music / "other").rglob("jazz.00000.wav")), changed)  # another song under the same name
    shutil.rmtree(music / "other")
    server.scan()
    printed = index(server, library, packaged).stdout
    assert "analysed 1, unchanged" in printed and "removed 1" in printed and "downloaded 1" in printed
    after = dict(rows(library, "SELECT path, content_hash FROM songs"))
    assert not any(path.endswith("elf-land.ogg") for path in after)
    [jazz] = [path for path in after if path.endswith("jazz.00001.wav")]
    assert after[jazz] != before.get(jazz) and len(after) == len(before) - 1


def test_nothing_of_the_password_is_in_any_output_library_or_playlist(downloaded):
    written = [p for p in downloaded[0].parent.rglob("*") if p.is_file()]
    assert any(p.name == "library.db" for p in written) and any("Starred mix" in text for text in OUTPUTS)
    for secret in SECRETS:
        assert not [p for p in written if secret.encode() in p.read_bytes()]
        assert not [text for text in OUTPUTS if secret in text]
    with sqlite3.connect(downloaded[0] / "library.db") as db:
        assert not [row for row in db.execute("SELECT key, value FROM meta") if PASSWORD in row[1]]
