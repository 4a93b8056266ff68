"""`bentoml serve` of this project on a free 127.0.0.1 port, for the tests and the benchmarks
(a development helper: it is not part of the installed package)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]  # where bentofile.yaml names the service


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def local_server(env: dict[str, str], log_path: Path, ready_within: float = 180) -> Iterator[str]:
    """Start the server with `env` added to the environment, wait until /readyz answers, yield
    its URL; stop it and every worker it started afterwards. The server's output goes to
    `log_path`, whose tail is in the error if it dies or never becomes ready."""
    port = free_port()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bentoml", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + ready_within
        while not _ready(url):
            if proc.poll() is not None:
                raise RuntimeError(f"bentoml serve exited ({proc.returncode}):\n{log_path.read_text()[-5000:]}")
            if time.time() > deadline:
                raise RuntimeError(f"bentoml serve not ready after {ready_within:.0f} s:\n{log_path.read_text()[-5000:]}")
            time.sleep(1)
        yield url
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=60)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
