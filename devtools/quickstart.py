"""Runs README's quick start as written, in the folder it is started in (a fresh clone): each
line of the block between the quick-start markers through bash, in order, stopping at the
first that fails. The last line, `bentoml serve`, runs until the server answers; then the page
and one classification are fetched from it, as a person's browser would, and it is stopped.

    python devtools/quickstart.py        # what .ci/run does, after the tests

A song named `song.mp3` must be in the folder (the quick start classifies it).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

README = Path("README.md")
URL = "http://localhost:3000"  # where `bentoml serve` listens unless told otherwise


def quick_start_lines() -> list[str]:
    block = re.search(r"<!-- quick start:.*?-->\s*```bash\n(.*?)```", README.read_text(), re.S)
    if block is None:
        raise SystemExit("README.md has no quick-start block between its markers")
    return [line for line in block.group(1).splitlines() if line.strip()]


def serve_and_visit(line: str) -> None:
    """Start the serve line, wait for it, fetch the page and classify song.mp3 over HTTP."""
    server = subprocess.Popen(["bash", "-c", line], start_new_session=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            if server.poll() is not None:
                raise SystemExit(f"`{line}` stopped with exit code {server.returncode}")
            try:
                if httpx.get(f"{URL}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(2)
        else:
            raise SystemExit(f"`{line}`: no answer at {URL} within 300 s")
        page = httpx.get(URL, timeout=30)
        if page.status_code != 200 or "<title>" not in page.text:
            raise SystemExit(f"GET / answered {page.status_code}: {page.text[:300]}")
        answer = httpx.post(f"{URL}/classify", files={"audio": ("song.mp3", Path("song.mp3").read_bytes())}, timeout=300)
        if answer.status_code != 200:
            raise SystemExit(f"POST /classify answered {answer.status_code}: {answer.text[:300]}")
        body = answer.json()
        print(f"page: {len(page.content)} bytes; POST /classify song.mp3: {body['genre']} by {body['model']}", flush=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def main() -> None:
    lines = quick_start_lines()
    for line in lines:
        print(f"$ {line}", flush=True)
        if line.startswith("bentoml serve"):
            serve_and_visit(line)
            continue
        done = subprocess.run(["bash", "-c", line])
        if done.returncode != 0:
            sys.exit(f"quick start failed at `{line}` (exit code {done.returncode})")
    print(f"quick start: {len(lines)} lines ran as written", flush=True)


if __name__ == "__main__":
    main()
