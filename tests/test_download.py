"""scripts/download_gtzan.sh against archives served from 127.0.0.1."""

import hashlib
import http.server
import os
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

from data.synthetic import generate

from conftest import REPO

SCRIPT = REPO / "scripts" / "download_gtzan.sh"


class ArchiveServer:
    """Serves bytes with HTTP Range support; can cut the first response off halfway."""

    def __init__(self, payload: bytes, cut_first_response: bool = False):
        self.payload, self.cut_first, self.ranges = payload, cut_first_response, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                start = 0
                header = self.headers.get("Range")
                server.ranges.append(header)
                if header:
                    start = int(header.split("=")[1].split("-")[0])
                body = server.payload[start:]
                self.send_response(206 if header else 200)
                self.send_header("Content-Length", str(len(body)))
                if header:
                    self.send_header("Content-Range", f"bytes {start}-{len(server.payload) - 1}/{len(server.payload)}")
                self.end_headers()
                if server.cut_first:
                    server.cut_first = False
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/genres.tar.gz"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> bytes:
    """A GTZAN-shaped genres.tar.gz: genres/<genre>/<genre>.0000N.wav, 2 short clips a genre."""
    root = tmp_path_factory.mktemp("archive")
    generate(root / "src", clips_per_genre=2, seconds=2.0)
    path = root / "genres.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(root / "src" / "genres_original", arcname="genres")
    return path.read_bytes()


def run_script(dest: Path, mirrors: list[str], sha256: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GTZAN_MIRRORS": " ".join(mirrors), "GTZAN_SHA256": sha256, "GTZAN_EXPECTED_CLIPS": "20"}
    return subprocess.run(["bash", str(SCRIPT), str(dest)], env=env, capture_output=True, text=True, timeout=120)


def test_good_archive_extracts_and_a_second_run_does_nothing(tmp_path, archive):
    server = ArchiveServer(archive)
    dest = tmp_path / "gtzan"
    first = run_script(dest, [server.url], hashlib.sha256(archive).hexdigest())
    assert first.returncode == 0, first.stderr
    assert len(list(dest.glob("genres/*/*.wav"))) == 20
    assert "10 genres, 20 clips" in first.stderr
    assert not (tmp_path / "gtzan.download").exists()
    requests = len(server.ranges)
    second = run_script(dest, [server.url], hashlib.sha256(archive).hexdigest())
    assert second.returncode == 0 and "already" in second.stderr
    assert len(server.ranges) == requests  # nothing fetched again
    server.close()


def test_corrupt_archive_is_refused_and_nothing_looks_like_a_data_set(tmp_path, archive):
    corrupt = bytearray(archive)
    corrupt[len(corrupt) // 2] ^= 0xFF
    server = ArchiveServer(bytes(corrupt))
    dest = tmp_path / "gtzan"
    done = run_script(dest, [server.url], hashlib.sha256(archive).hexdigest())
    assert done.returncode != 0
    assert "checksum mismatch" in done.stderr
    assert not dest.exists()
    assert not list(tmp_path.glob("**/genres"))
    server.close()


def test_interrupted_download_resumes(tmp_path, archive):
    server = ArchiveServer(archive, cut_first_response=True)
    dest = tmp_path / "gtzan"
    digest = hashlib.sha256(archive).hexdigest()
    first = run_script(dest, [server.url], digest)
    assert first.returncode != 0 and not dest.exists()
    partial = tmp_path / "gtzan.download" / "genres.tar.gz.part"
    kept = partial.stat().st_size
    assert 0 < kept < len(archive)
    second = run_script(dest, [server.url], digest)
    assert second.returncode == 0, second.stderr
    assert server.ranges[-1] == f"bytes={kept}-"
    assert len(list(dest.glob("genres/*/*.wav"))) == 20
    server.close()


def test_offline_names_every_url_tried(tmp_path):
    mirrors = ["http://127.0.0.1:9/genres.tar.gz", "http://127.0.0.1:9/mirror2/genres.tar.gz"]
    done = run_script(tmp_path / "gtzan", mirrors, "0" * 64)
    assert done.returncode != 0
    for url in mirrors:
        assert url in done.stderr
    assert not (tmp_path / "gtzan").exists()


SEED_SCRIPT = REPO / "scripts" / "download_seed_model.sh"


def run_seed_script(dest: Path, url: str, sha256: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SEED_MODEL_URL": url, "SEED_MODEL_SHA256": sha256}
    return subprocess.run(["bash", str(SEED_SCRIPT), str(dest)], env=env, capture_output=True, text=True, timeout=60)


def test_seed_weights_download_is_checksummed(tmp_path):
    payload = b"weights" * 1000
    server = ArchiveServer(payload)
    dest = tmp_path / "models" / "seed.h5"
    bad = run_seed_script(dest, server.url, "0" * 64)
    assert bad.returncode != 0 and "checksum mismatch" in bad.stderr and not dest.exists()
    good = run_seed_script(dest, server.url, hashlib.sha256(payload).hexdigest())
    assert good.returncode == 0 and dest.read_bytes() == payload
    again = run_seed_script(dest, server.url, hashlib.sha256(payload).hexdigest())
    assert "nothing to do" in again.stderr
    server.close()
