"""MPD's queue follows the song: a real `mpd` (Debian's package; .ci/run installs it) on
127.0.0.1 with a null audio output and a password, playing a library of generated songs;
`python -m serving mpd` queues the library's most similar songs after the one playing, and
with --follow again when the song changes and after the daemon restarts."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from mpd import MPDClient

from conftest import REPO, index, run_module
from data.synthetic import generate

MPD = shutil.which("mpd") or "/usr/sbin/mpd"
PASSWORD = "queue-secret"
ADD = 3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Daemon:
    """`mpd --no-daemon` on a config of its own: started, restarted, stopped by the test."""

    def __init__(self, music: Path, folder: Path):
        self.port = free_port()
        self.config = folder / "mpd.conf"
        self.config.write_text(f"""
music_directory "{music}"
db_file "{folder / 'database'}"
state_file "{folder / 'state'}"
playlist_directory "{folder / 'playlists'}"
log_file "{folder / 'mpd.log'}"
bind_to_address "127.0.0.1"
port "{self.port}"
password "{PASSWORD}@read,add,control,admin"
default_permissions ""
audio_output {{
    type "null"
    name "silence"
}}
""")
        (folder / "playlists").mkdir(exist_ok=True)
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([MPD, "--no-daemon", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            time.sleep(0.1)
        raise AssertionError(f"mpd did not listen on 127.0.0.1:{self.port}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)

    @contextlib.contextmanager
    def client(self):
        client = MPDClient()
        client.connect("127.0.0.1", self.port)
        client.password(PASSWORD)
        try:
            yield client
        finally:
            client.disconnect()

    def update(self) -> None:
        with self.client() as client:
            client.update()
            deadline = time.monotonic() + 60
            while "updating_db" in client.status():
                assert time.monotonic() < deadline, "mpd's database update did not finish"
                time.sleep(0.1)

    def play(self, *files: str) -> None:
        """A queue of `files`, the first playing."""
        with self.client() as client:
            client.clear()
            for file in files:
                client.add(file)
            client.play(0)

    def queue(self) -> list[str]:
        with self.client() as client:
            return [item["file"] for item in client.playlistinfo()]

    def playing(self) -> str:
        with self.client() as client:
            return client.currentsong()["file"]


@pytest.fixture(scope="module")
def songs(tmp_path_factory, packaged) -> tuple[Path, Path]:
    """(music folder, library): 2 generated 12 s songs per genre indexed with the smoke model,
    then one more song the library has not seen."""
    if not Path(MPD).is_file():
        pytest.skip("mpd is not installed: apt-get install mpd (.ci/run installs it)")
    music = tmp_path_factory.mktemp("mpd-music")
    generate(music / "library", clips_per_genre=2, seconds=12.0, seed=5)
    library = tmp_path_factory.mktemp("mpd-library")
    index(music, library, packaged)
    generate(music / "unseen", clips_per_genre=1, seconds=12.0, seed=6)
    return music, library


@pytest.fixture(scope="module")
def daemon(songs, tmp_path_factory):
    music, _ = songs
    mpd = Daemon(music, tmp_path_factory.mktemp("mpd"))
    mpd.start()
    mpd.update()
    yield mpd
    mpd.stop()


def library_files(music: Path) -> list[str]:
    return sorted(p.relative_to(music).as_posix() for p in (music / "library").rglob("*.wav"))


def similar(songs, song: str, top_k: int, env: dict) -> list[str]:
    """The library's own answer for `song`, as MPD names the songs."""
    music, library = songs
    done = run_module("serving", "--library", str(library), "similar", str(music / song), "--top-k", str(top_k),
                      "--json", cwd=REPO, env=env)
    by_name = {Path(file).name: file for file in library_files(music)}
    return [by_name[match["file"]] for match in json.loads(done.stdout)["recommendations"]]


def mpd_command(songs, daemon: Daemon, *args: str, **kwargs):
    _, library = songs
    return run_module("serving", "--library", str(library), "mpd", "--host", "127.0.0.1", "--port", str(daemon.port),
                      *args, cwd=REPO, env={"MPD_PASSWORD": PASSWORD, **kwargs.pop("env", {})}, **kwargs)


def test_the_songs_most_like_the_playing_one_are_queued_after_it_in_order(songs, daemon, packaged):
    music, _ = songs
    seed = library_files(music)[0]
    daemon.play(seed, library_files(music)[-1])
    done = mpd_command(songs, daemon, "--add", str(ADD), env=packaged)
    expected = similar(songs, seed, ADD + 1, packaged)
    expected = [f for f in expected if f != library_files(music)[-1]][:ADD]  # the queued song is not queued twice
    assert daemon.queue() == [seed, *expected, library_files(music)[-1]]
    assert f"playing {seed}; queued {ADD} like it after it:" in done.stdout
    assert PASSWORD not in done.stdout + done.stderr


def test_a_song_the_library_lacks_is_analysed_and_followed_too(songs, daemon, packaged):
    music, _ = songs
    unseen = sorted(p.relative_to(music).as_posix() for p in (music / "unseen").rglob("*.wav"))[0]
    daemon.play(unseen)
    done = mpd_command(songs, daemon, "--add", str(ADD), env=packaged)
    queue_now = daemon.queue()
    assert queue_now[0] == unseen and len(queue_now) == ADD + 1
    assert all(file.startswith("library/") for file in queue_now[1:])
    assert "(not in the library: analysed now)" in done.stdout


def test_a_wrong_password_and_an_absent_daemon_stop_with_one_line(songs, daemon, packaged):
    wrong = mpd_command(songs, daemon, env={**packaged, "MPD_PASSWORD": "nope"}, check=False)
    assert wrong.returncode == 1 and "incorrect password" in wrong.stderr.strip().splitlines()[-1]
    _, library = songs
    absent = run_module("serving", "--library", str(library), "mpd", "--host", "127.0.0.1", "--port", str(free_port()),
                        cwd=REPO, env=packaged, check=False)
    assert absent.returncode == 1 and "cannot reach MPD at 127.0.0.1:" in absent.stderr.strip().splitlines()[-1]


def test_follow_queues_again_when_the_song_changes_and_when_the_daemon_is_back(songs, daemon, packaged):
    music, _ = songs
    first = library_files(music)[2]
    daemon.play(first)
    follower = subprocess.Popen(
        [sys.executable, "-m", "serving", "--library", str(songs[1]), "mpd", "--host", "127.0.0.1", "--port",
         str(daemon.port), "--add", str(ADD), "--follow"],
        cwd=REPO, env={**os.environ, **packaged, "MPD_PASSWORD": PASSWORD}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in follower.stdout], daemon=True).start()
    heard: list[str] = []

    def said(words: str, within: float = 120) -> str:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                heard.append(lines.get(timeout=1))
                if words in heard[-1]:
                    return heard[-1]
        raise AssertionError(f"the follower never said {words!r}; it said:\n{''.join(heard)}")

    try:
        said(f"playing {first}; queued {ADD}")
        queued = daemon.queue()[1:]
        assert len(queued) == ADD
        with daemon.client() as client:
            client.next()  # the first queued song plays
        second = queued[0]
        said(f"playing {second}; queued {ADD}")
        time.sleep(0.5)
        now = daemon.queue()
        assert now[:2] == [first, second] and len(now) == 2 + ADD  # the earlier picks made way
        assert first not in now[2:] and len(set(now)) == len(now)

        daemon.stop()
        said("lost MPD at 127.0.0.1:")
        daemon.start()
        said("reconnected to MPD at 127.0.0.1:")
        said(f"; queued {ADD} like it after it:")  # the queue filled again
        follower.send_signal(signal.SIGTERM)  # as a service manager stops it (Ctrl-C is SIGINT)
        said("stopped following MPD")
        assert follower.wait(timeout=30) == 0
    finally:
        follower.kill()
