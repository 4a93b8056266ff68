"""The library: a real folder indexed by `python -m serving index` into a real SQLite file and a
real faiss index, changed, broken, killed and resumed, then asked from the command line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from conftest import SHARED, bentoml_server, index, rows, run_module
from data.synthetic import SAMPLE_RATE, render_clip


def files_in(music: Path) -> list[str]:
    return sorted(str(p) for p in music.rglob("*") if p.suffix in {".wav", ".ogg", ".mp3"})


def test_index_once_then_only_what_changed(music, packaged, tmp_path):
    folder = tmp_path / "music"
    shutil.copytree(music, folder)
    library = tmp_path / "library"
    first = index(folder, library, packaged)
    songs = files_in(folder)
    assert f"analysed {len(songs)}, unchanged 0, moved 0, removed 0, failed 0" in first.stdout
    assert sorted(p for (p,) in rows(library, "SELECT path FROM songs")) == songs
    tags = dict(rows(library, "SELECT title, artist FROM songs WHERE title IS NOT NULL"))
    if (SHARED / "audio").is_dir():
        assert tags["Elf Land"] == "Aleksi Aubry-Carlson"
    again = index(folder, library, packaged)
    assert f"analysed 0, unchanged {len(songs)}, moved 0, removed 0, failed 0" in again.stdout

    generated = folder / "generated" / "genres_original"
    rock, jazz, metal = (generated / g / f"{g}.00000.wav" for g in ("rock", "jazz", "metal"))
    moved_to = folder / "renamed" / "my-jazz.wav"
    moved_to.parent.mkdir()
    jazz_id = rows(library, f"SELECT id FROM songs WHERE path = '{jazz}'")[0][0]
    jazz.rename(moved_to)  # moved: its analysis kept
    os.utime(metal, ns=(time.time_ns(), time.time_ns()))  # touched: same content
    sf.write(rock, render_clip("classical", 20.0, np.random.default_rng(5)), SAMPLE_RATE)  # changed content
    (generated / "pop" / "pop.00001.wav").unlink()  # removed
    (folder / "broken.mp3").write_bytes(b"ID3 this is not an mp3")  # a broken file among good ones
    changed = index(folder, library, packaged)
    assert f"analysed 1, unchanged {len(songs) - 3}, moved 1, removed 1, failed 1" in changed.stdout
    assert "broken.mp3: not a readable audio file" in changed.stdout
    assert rows(library, f"SELECT id FROM songs WHERE path = '{moved_to}'") == [(jazz_id,)]
    assert rows(library, f"SELECT genre FROM songs WHERE path = '{rock}'") == [("classical",)]
    assert rows(library, "SELECT reason FROM failures")[0][0].startswith("not a readable audio file")
    assert len(rows(library, "SELECT path FROM songs")) == len(songs) - 1
    quiet = index(folder, library, packaged)  # the broken file is not retried until it changes
    assert f"analysed 0, unchanged {len(songs) - 1}, moved 0, removed 0, failed 0 (+1 unchanged since they failed)" in quiet.stdout


def test_a_killed_indexer_resumes_and_stores_every_song_once(music, packaged, tmp_path):
    library = tmp_path / "library"
    command = [sys.executable, "-m", "serving", "--library", str(library), "index", str(music)]
    proc = subprocess.Popen(command, env={**os.environ, **packaged}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if (library / "library.db").is_file() and _count(library) >= 1:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored = _count(library)
    songs = files_in(music)
    assert 1 <= stored < len(songs), "the indexer was not killed midway"
    done = index(music, library, packaged)
    assert f"analysed {len(songs) - stored}, unchanged {stored}" in done.stdout
    paths = [p for (p,) in rows(library, "SELECT path FROM songs")]
    assert sorted(paths) == songs  # every song, once
    assert len({h for (h,) in rows(library, "SELECT content_hash FROM songs")}) == len(songs)


def _count(library: Path) -> int:
    try:
        return rows(library, "SELECT COUNT(*) FROM songs")[0][0]
    except sqlite3.OperationalError:  # the schema is not written yet
        return 0


def test_similar_finds_the_songs_own_genre_first(music, packaged, indexed, tmp_path):
    song = music / "generated" / "genres_original" / "metal" / "metal.00000.wav"
    done = run_module("serving", "--library", str(indexed), "similar", str(song), "--top-k", "3", "--json",
                      cwd=tmp_path, env=packaged)
    answer = json.loads(done.stdout)
    assert answer["recommendations"][0]["genre"] == "metal"
    assert all(r["file"] != "metal.00000.wav" for r in answer["recommendations"])  # not itself
    assert "answered from the library in" in done.stderr


def test_recommend_without_candidates_ranks_the_library_and_writes_a_playlist(music, packaged, indexed, tmp_path):
    generated = music / "generated" / "genres_original"
    (tmp_path / "favourites.txt").write_text(f"{generated}/jazz/jazz.00000.wav\n{generated}/jazz/jazz.00001.wav\n")
    done = run_module("serving", "--library", str(indexed), "recommend", "--favorites", str(tmp_path / "favourites.txt"),
                      "--top-k", "4", "--playlist", str(tmp_path / "out.m3u8"), "--json", cwd=tmp_path, env=packaged)
    answer = json.loads(done.stdout)
    assert answer["favorite_genre"] == "jazz"
    assert len(answer["recommendations"]) == 4
    assert not {"jazz.00000.wav", "jazz.00001.wav"} & {r["file"] for r in answer["recommendations"]}
    assert all(r["id"] is not None for r in answer["recommendations"])
    scores = [r["score"] for r in answer["recommendations"]]
    assert scores == sorted(scores, reverse=True)
    playlist = (tmp_path / "out.m3u8").read_text().splitlines()
    assert playlist[0] == "#EXTM3U" and len(playlist) == 1 + 2 * 4
    assert all(Path(line).is_file() for line in playlist[2::2])
    only_metal = json.loads(run_module(
        "serving", "--library", str(indexed), "recommend", "--favorites", str(tmp_path / "favourites.txt"),
        "--genre", "metal", "--json", cwd=tmp_path, env=packaged).stdout)
    assert {r["genre"] for r in only_metal["recommendations"]} == {"metal"}


def test_the_service_answers_from_the_library(music, packaged, indexed, tmp_path):
    ids = dict((Path(p).name, i) for i, p in rows(indexed, "SELECT id, path FROM songs"))
    with bentoml_server(packaged, tmp_path, f"library:\n  path: {indexed}\n") as client:
        status = client.get("/library/")
        assert status.status_code == 200, status.text
        assert status.json()["songs"] == len(ids) and status.json()["model"].startswith("genre-crnn:")
        answer = client.post("/recommend", data={"favorite_ids": [ids["blues.00000.wav"]], "top_k": 3})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["favorite_genre"] == "blues" and len(body["recommendations"]) == 3
        assert all(r["id"] in ids.values() and r["file"] != "blues.00000.wav" for r in body["recommendations"])
        near = client.post("/similar", data={"song_id": ids["classical.00000.wav"], "top_k": 2})
        assert near.status_code == 200 and near.json()["recommendations"][0]["genre"] == "classical"
        upload = music / "generated" / "genres_original" / "reggae" / "reggae.00000.wav"
        by_upload = client.post("/similar", files=[("audio", (upload.name, upload.read_bytes()))], data={"top_k": 2})
        assert by_upload.status_code == 200 and len(by_upload.json()["recommendations"]) == 2
        assert client.post("/similar", data={"song_id": 999999}).status_code == 404
