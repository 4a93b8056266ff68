"""A real Subsonic server on a free 127.0.0.1 port: supysonic (the `dev` extra) under waitress,
with one user and one music folder, for the tests and the benchmarks (a development helper: it
is not part of the installed package).

supysonic reads `supysonic.conf` from its working folder (and ~/.supysonic: HOME is pointed at
the server's own folder, so nothing of this machine's is read); its command line adds the user
and the folder and scans it, as a person setting it up would.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from local_server import free_port

FOLDER_NAME = "music"


@dataclass(frozen=True)
class SupysonicServer:
    url: str
    home: Path  # its configuration, database and log
    music: Path  # the music folder it serves

    def cli(self, *args: str) -> str:
        """`supysonic-cli ARGS` on this server's database; its output."""
        return supysonic_cli(self.home, *args)

    def scan(self) -> str:
        return self.cli("folder", "scan", "--foreground", FOLDER_NAME)


def supysonic_cli(home: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "supysonic.cli", *args], cwd=home, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "HOME": str(home)})
    if done.returncode:
        raise RuntimeError(f"supysonic-cli {' '.join(args[:2])} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


@contextlib.contextmanager
def supysonic_server(home: Path, music: Path, user: str, password: str, ready_within: float = 60) -> Iterator[SupysonicServer]:
    """supysonic serving `music` (scanned) from `home`, with `user`; stopped afterwards."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "supysonic.conf").write_text(
        f"[base]\ndatabase_uri = sqlite:///{home / 'supysonic.db'}\n"
        f"[webapp]\ncache_dir = {home / 'cache'}\nmount_webui = no\nlog_level = WARNING\n"
        f"[daemon]\nsocket = {home / 'daemon.sock'}\nrun_watcher = no\n")
    supysonic_cli(home, "user", "add", user, "--password", password)
    supysonic_cli(home, "folder", "add", FOLDER_NAME, str(music))
    server = SupysonicServer("", home, music)
    server.scan()
    port = free_port()
    log_path = home / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "supysonic.server", "-S", "waitress", "-h", "127.0.0.1",
                                 "-p", str(port)], cwd=home, env={**os.environ, "HOME": str(home)}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + ready_within
        while not _answers(url):
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"supysonic did not start ({proc.poll()}):\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield SupysonicServer(url, home, music)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/rest/ping.view", params={"f": "json"}, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False
