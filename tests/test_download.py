"""scripts/download_gtzan.sh against archives served from 127.0.0.1."""

import hashlib
import http.server
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest
import soundfile as sf

from data.folders import read_folder, label_folder
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
def clips(tmp_path_factory) -> Path:
    """Generated clips, 2 s, 2 a genre: ROOT/genres_original/<genre>/<genre>.0000N.wav."""
    root = tmp_path_factory.mktemp("clips")
    generate(root, clips_per_genre=2, seconds=2.0)
    return root / "genres_original"


def make_archive(clips: Path, tmp: Path, folder: str = "genres", suffix: str = ".wav", garbage: str = "") -> bytes:
    """genres.tar.gz holding FOLDER/<genre>/<genre>.0000N.SUFFIX; the clip named `garbage` is junk bytes."""
    tree = tmp / f"tree-{folder.replace('/', '-')}{suffix}"
    for wav in sorted(clips.glob("*/*.wav")):
        target = tree / folder / wav.parent.name / (wav.stem + suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        if wav.stem == garbage:
            target.write_bytes(b"not audio " * 100)
        elif suffix == ".au":
            data, rate = sf.read(wav)
            sf.write(target, data, rate, format="AU", subtype="PCM_16")
        else:
            shutil.copy(wav, target)
    path = tree.with_suffix(".tar.gz")
    with tarfile.open(path, "w:gz") as tar:
        tar.add(tree / folder.split("/")[0], arcname=folder.split("/")[0])
    return path.read_bytes()


@pytest.fixture(scope="module")
def archive(clips, tmp_path_factory) -> bytes:
    """The original archive's layout (genres/<genre>/...), wav clips."""
    return make_archive(clips, tmp_path_factory.mktemp("archive"))


def entry(url: str, payload: bytes) -> str:
    """A GTZAN_MIRRORS entry whose checksum is `payload`'s."""
    return f"{url}#sha256={hashlib.sha256(payload).hexdigest()}"


def run_script(dest: Path, mirrors: list[str], expected_clips: int = 20, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "GTZAN_MIRRORS": " ".join(mirrors),
        "GTZAN_EXPECTED_CLIPS": str(expected_clips),
        "PYTHON": sys.executable,  # the check must run in this environment, whatever `python` is
        "NO_PROXY": "127.0.0.1",
        "no_proxy": "127.0.0.1",
    }
    return subprocess.run(
        ["bash", str(SCRIPT), *(args or [str(dest)])], env=env, capture_output=True, text=True, timeout=120
    )


def marker(dest: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (dest / ".gtzan-complete").read_text().splitlines())


def assert_nothing_installed(tmp_path: Path, dest: Path) -> None:
    assert not dest.exists()
    assert not list(tmp_path.glob("*.extract.*"))  # the staging folder is gone too


@pytest.mark.parametrize(
    "folder, suffix",
    [("genres", ".au"), ("genres", ".wav"), ("genres_original", ".wav"), ("Data/genres_original", ".wav")],
)
def test_each_archive_layout_installs_where_the_loader_finds_it(tmp_path, clips, folder, suffix):
    payload = make_archive(clips, tmp_path, folder, suffix)
    server = ArchiveServer(payload)
    dest = tmp_path / "gtzan"
    done = run_script(dest, [entry(server.url, payload)])
    server.close()
    assert done.returncode == 0, done.stderr
    index = read_folder(dest)
    assert len(index.clips) == 20 and not index.unreadable
    assert label_folder(dest) == dest / folder.split("/")[-1]
    assert {clip.path.suffix for clip in index.clips} == {suffix}
    assert marker(dest)["clips"] == "20"
    assert not (tmp_path / "gtzan.download").exists()
    assert not list(tmp_path.glob("*.extract.*"))


def test_second_run_does_nothing(tmp_path, archive):
    server = ArchiveServer(archive)
    dest = tmp_path / "gtzan"
    first = run_script(dest, [entry(server.url, archive)])
    assert first.returncode == 0, first.stderr
    assert marker(dest) == {"url": server.url, "sha256": hashlib.sha256(archive).hexdigest(), "clips": "20"}
    requests = len(server.ranges)
    second = run_script(dest, [entry(server.url, archive)])
    assert second.returncode == 0 and "already" in second.stderr
    assert len(server.ranges) == requests  # nothing fetched again
    server.close()


def test_a_mirror_failing_its_checksum_is_skipped_for_the_next(tmp_path, clips, archive):
    corrupt = bytearray(archive)
    corrupt[len(corrupt) // 2] ^= 0xFF
    bad = ArchiveServer(bytes(corrupt))
    other = make_archive(clips, tmp_path, "genres", ".au")  # another archive, with its own checksum
    good = ArchiveServer(other)
    dest = tmp_path / "gtzan"
    done = run_script(dest, [entry(bad.url, archive), entry(good.url, other)])
    bad.close(), good.close()
    assert done.returncode == 0, done.stderr
    assert f"checksum mismatch for {bad.url}" in done.stderr
    assert marker(dest)["url"] == good.url
    assert marker(dest)["sha256"] == hashlib.sha256(other).hexdigest()
    assert len(read_folder(dest).clips) == 20


def test_an_unreadable_clip_is_listed_and_counted(tmp_path, clips):
    payload = make_archive(clips, tmp_path, "genres_original", ".wav", garbage="jazz.00001")
    server = ArchiveServer(payload)
    dest = tmp_path / "gtzan"
    done = run_script(dest, [entry(server.url, payload)])
    server.close()
    assert done.returncode == 0, done.stderr
    assert "unreadable: genres_original/jazz/jazz.00001.wav" in done.stderr
    index = read_folder(dest)
    assert len(index.clips) == 19
    assert [path.name for path, _ in index.unreadable] == ["jazz.00001.wav"]


def test_a_wrong_clip_count_installs_nothing_and_keeps_the_verified_archive(tmp_path, archive):
    server = ArchiveServer(archive)
    dest = tmp_path / "gtzan"
    refused = run_script(dest, [entry(server.url, archive)], expected_clips=30)
    assert refused.returncode != 0
    assert "expected 30 clips, found 20" in refused.stderr and "nothing was installed" in refused.stderr
    assert_nothing_installed(tmp_path, dest)
    requests = len(server.ranges)
    fixed = run_script(dest, [entry(server.url, archive)])  # the right count: no new download
    assert fixed.returncode == 0, fixed.stderr
    assert len(server.ranges) == requests
    server.close()


def test_corrupt_archive_is_refused_and_nothing_looks_like_a_data_set(tmp_path, archive):
    corrupt = bytearray(archive)
    corrupt[len(corrupt) // 2] ^= 0xFF
    server = ArchiveServer(bytes(corrupt))
    dest = tmp_path / "gtzan"
    done = run_script(dest, [entry(server.url, archive)])
    server.close()
    assert done.returncode != 0
    assert "checksum mismatch" in done.stderr
    assert_nothing_installed(tmp_path, dest)
    assert not list(tmp_path.glob("**/genres"))
    assert not list(tmp_path.glob("gtzan.download/*"))  # the refused archive is deleted


def test_interrupted_download_resumes(tmp_path, archive):
    server = ArchiveServer(archive, cut_first_response=True)
    dest = tmp_path / "gtzan"
    first = run_script(dest, [entry(server.url, archive)])
    assert first.returncode != 0
    assert_nothing_installed(tmp_path, dest)
    [partial] = (tmp_path / "gtzan.download").glob("*.part")
    kept = partial.stat().st_size
    assert 0 < kept < len(archive)
    second = run_script(dest, [entry(server.url, archive)])
    assert second.returncode == 0, second.stderr
    assert server.ranges[-1] == f"bytes={kept}-"
    assert len(read_folder(dest).clips) == 20
    server.close()


def test_a_partial_download_is_never_continued_from_another_mirror(tmp_path, clips, archive):
    cut = ArchiveServer(archive, cut_first_response=True)
    other = make_archive(clips, tmp_path, "genres_original", ".wav")
    whole = ArchiveServer(other)
    dest = tmp_path / "gtzan"
    done = run_script(dest, [entry(cut.url, archive), entry(whole.url, other)])
    cut.close(), whole.close()
    assert done.returncode == 0, done.stderr
    assert whole.ranges == [None]  # the second mirror's archive was fetched from its first byte
    assert marker(dest)["url"] == whole.url


def test_offline_names_every_url_tried(tmp_path):
    mirrors = ["http://127.0.0.1:9/genres.tar.gz", "http://127.0.0.1:9/mirror2/genres.tar.gz"]
    done = run_script(tmp_path / "gtzan", [f"{url}#sha256={'0' * 64}" for url in mirrors])
    assert done.returncode != 0
    for url in mirrors:
        assert url in done.stderr
    assert_nothing_installed(tmp_path, tmp_path / "gtzan")


def test_a_mirror_without_checksum_is_an_error_naming_it(tmp_path):
    done = run_script(tmp_path / "gtzan", ["http://127.0.0.1:9/genres.tar.gz"])
    assert done.returncode != 0
    assert "'http://127.0.0.1:9/genres.tar.gz' needs its checksum" in done.stderr
    assert not (tmp_path / "gtzan.download").exists()


def test_a_non_empty_dest_that_is_not_a_download_is_refused(tmp_path, archive):
    server = ArchiveServer(archive)
    dest = tmp_path / "gtzan"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    done = run_script(dest, [entry(server.url, archive)])
    server.close()
    assert done.returncode != 0 and "not a complete GTZAN download" in done.stderr
    assert server.ranges == [] and [p.name for p in dest.iterdir()] == ["notes.txt"]


def test_default_mirrors_each_carry_their_own_pinned_checksum():
    env = {key: value for key, value in os.environ.items() if key != "GTZAN_MIRRORS"}
    done = subprocess.run(["bash", str(SCRIPT), "--list-mirrors"], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    mirrors = [line.split(" ") for line in done.stdout.splitlines()]
    assert len(mirrors) == 3
    for url, sha in mirrors:
        assert url.startswith(("http://", "https://")) and re.fullmatch(r"[0-9a-f]{64}", sha)
    (original, original_sha), (hf, hf_sha), (wayback, wayback_sha) = mirrors
    assert re.search(r"huggingface\.co/datasets/marsyas/gtzan/resolve/[0-9a-f]{40}/", hf)
    assert re.search(r"web\.archive\.org/web/\d{14}id_/", wayback) and original in wayback
    assert wayback_sha == original_sha != hf_sha  # the same archive, and a different one


KERAS_SCRIPT = REPO / "scripts" / "download_keras_model.sh"


def run_keras_script(dest: Path, url: str, sha256: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_MODEL_URL": url, "KERAS_MODEL_SHA256": sha256}
    return subprocess.run(["bash", str(KERAS_SCRIPT), str(dest)], env=env, capture_output=True, text=True, timeout=60)


def test_keras_weights_download_is_checksummed(tmp_path):
    payload = b"weights" * 1000
    server = ArchiveServer(payload)
    dest = tmp_path / "models" / "keras.h5"
    bad = run_keras_script(dest, server.url, "0" * 64)
    assert bad.returncode != 0 and "checksum mismatch" in bad.stderr and not dest.exists()
    good = run_keras_script(dest, server.url, hashlib.sha256(payload).hexdigest())
    assert good.returncode == 0 and dest.read_bytes() == payload
    again = run_keras_script(dest, server.url, hashlib.sha256(payload).hexdigest())
    assert "nothing to do" in again.stderr
    server.close()
