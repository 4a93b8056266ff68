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
import pytest
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
                      "--plots", str(tmp_path / "plots"), cwd=tmp_path, env=packaged)
    answer = json.loads(done.stdout)
    assert answer["recommendations"][0]["genre"] == "metal"
    assert all(r["file"] != "metal.00000.wav" for r in answer["recommendations"])  # not itself
    assert "like metal.00000.wav" in answer["recommendations"][0]["reason"]  # one song: no "favourite genre"
    assert "answered from the library in" in done.stderr
    assert (tmp_path / "plots" / "metal.00000.png").read_bytes()[:4] == b"\x89PNG"


def test_library_questions_load_no_torch_and_an_old_library_file_is_upgraded(tmp_path):
    """A library.db written before schema versions (tests/data: two real songs indexed with the
    old Keras model by the code of that time) is upgraded in place and answers; the question
    imports no torch, BentoML or Lightning and needs no model in the store."""
    library = tmp_path / "library"
    library.mkdir()
    shutil.copy(Path(__file__).parent / "data" / "library-before-versions.db", library / "library.db")
    done = run_module("serving", "--library", str(library), "similar", "/tmp/fx/music/sad.ogg", "--json",
                      python=("-X", "importtime"), cwd=tmp_path, env={"BENTOML_HOME": str(tmp_path / "empty-store")})
    answer = json.loads(done.stdout)
    assert [r["file"] for r in answer["recommendations"]] == ["elf-land.ogg"]
    assert answer["favorites"][0]["file"] == "sad.ogg"
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "import time:" in line}
    assert "library" in imported and "faiss" in imported
    assert not {"torch", "torchaudio", "bentoml", "lightning", "mlflow"} & imported
    with sqlite3.connect(library / "library.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 5
        columns = {row[1] for row in db.execute("PRAGMA table_info(songs)")}
        assert "analysis" not in columns and {"tags", "file_genre"} <= columns
        assert db.execute("SELECT COUNT(*) FROM genre_writes").fetchone() == (0,)
        assert db.execute("SELECT DISTINCT tags FROM songs").fetchall() == [(b"",)]  # the old model had no tags
        assert db.execute("SELECT path FROM roots").fetchall() == [("/tmp/fx/music",)]  # the folder it was indexed from


def test_a_library_file_this_version_cannot_read_is_refused_with_the_rebuild_command(tmp_path):
    from library.store import Library, LibraryError

    newer, foreign, garbage = (tmp_path / name for name in ("newer", "foreign", "garbage"))
    for folder in (newer, foreign, garbage):
        folder.mkdir()
    with sqlite3.connect(newer / "library.db") as db:
        db.execute("PRAGMA user_version = 99")
    with sqlite3.connect(foreign / "library.db") as db:
        db.execute("CREATE TABLE photos (id INTEGER)")
    (garbage / "library.db").write_bytes(b"not a database at all" * 100)
    for folder, reason in ((newer, "written by a newer genre-recsys"), (foreign, "other tables than a library's"),
                           (garbage, "is not a library file")):
        before = (folder / "library.db").read_bytes()
        with pytest.raises(LibraryError, match=reason) as refused:
            Library(folder)
        assert f"python -m serving --library {folder} index MUSIC_DIR" in str(refused.value)
        assert (folder / "library.db").read_bytes() == before  # never misread, never changed
    done = run_module("serving", "--library", str(newer), "similar", "x.ogg", cwd=tmp_path, env={}, check=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and "newer genre-recsys" in done.stderr


def test_a_library_answers_only_with_the_model_that_analysed_it(music, packaged, indexed, other_model, tmp_path):
    song = music / "generated" / "genres_original" / "metal" / "metal.00000.wav"
    (tmp_path / "favourites.txt").write_text(f"{song}\n")
    analysed_with = rows(indexed, "SELECT value FROM meta WHERE key = 'analysis'")[0][0]
    analysed_with = json.loads(analysed_with)["model"]
    for question in (("similar", str(song)), ("recommend", "--favorites", str(tmp_path / "favourites.txt"))):
        done = run_module("serving", "--library", str(indexed), "--model", other_model, *question, "--json",
                          cwd=tmp_path, env=packaged, check=False)
        assert done.returncode != 0 and done.stdout == "", done.stdout  # a refusal, no answer
        assert f"analysed with {analysed_with}, not {other_model}" in done.stderr
        assert done.stderr.rstrip().endswith(f"python -m serving --library {indexed} --model {other_model} index")
    # its own model, named by version or by "latest", answers
    for tag in (analysed_with, "genre-crnn:latest"):
        done = run_module("serving", "--library", str(indexed), "--model", tag, "similar", str(song), "--json",
                          cwd=tmp_path, env=packaged)
        assert json.loads(done.stdout)["recommendations"]
    ids = dict((Path(p).name, i) for i, p in rows(indexed, "SELECT id, path FROM songs"))
    env = {**packaged, "GENRE_MODEL_TAG": other_model}
    with bentoml_server(env, tmp_path, f"library:\n  path: {indexed}\n") as client:
        status = client.get("/library/").json()
        assert status["answering"] is False and status["songs"] == 0
        assert f"analysed with {analysed_with}, not {other_model}" in status["problem"]
        for route, form in (("/similar", {"song_id": ids["metal.00000.wav"]}),
                            ("/recommend", {"favorite_ids": [ids["metal.00000.wav"]]})):
            refused = client.post(route, data=form)
            assert refused.status_code == 409, refused.text
            assert "index" in refused.json()["error"] and other_model in refused.json()["error"]
        assert client.get("/library/songs").json() == {"total": 0, "offset": 0, "songs": []}
        classified = client.post("/classify", files={"audio": (song.name, song.read_bytes())})
        assert classified.status_code == 200  # what needs no library is answered as always


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
        assert status.json()["answering"] is True and status.json().get("problem") is None
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


def test_a_library_knows_its_folders_and_never_empties_itself_by_mistake(music, packaged, tmp_path):
    generated = music / "generated" / "genres_original"
    folder, more, library = tmp_path / "music", tmp_path / "more", tmp_path / "library"
    for genre in ("blues", "jazz", "metal"):
        shutil.copy(generated / genre / f"{genre}.00000.wav", (folder / genre).mkdir(parents=True) or folder / genre)
    shutil.copy(generated / "rock" / "rock.00000.wav", more.mkdir() or more)

    def run(*args: str) -> subprocess.CompletedProcess:
        return run_module("serving", "--library", str(library), "index", *args, cwd=tmp_path, env=packaged, check=False)

    def stored() -> list[str]:
        return sorted(p for (p,) in rows(library, "SELECT path FROM songs"))

    assert "analysed 3, unchanged 0, moved 0, removed 0, failed 0" in run(str(folder)).stdout
    songs = stored()
    # a folder that is not the library's: refused, nothing changed
    (tmp_path / "empty").mkdir()
    wrong = run(str(tmp_path / "empty"))
    assert wrong.returncode != 0 and wrong.stderr.startswith("error: ") and "Traceback" not in wrong.stderr
    assert f"indexes {folder}, not {tmp_path / 'empty'}: nothing changed" in wrong.stderr and "--add" in wrong.stderr
    assert stored() == songs
    # another folder holding no audio, even when asked to add it
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "read me.txt").write_text("not music")
    (notes / "cover.png").write_bytes(b"\x89PNG not music")
    none = run(str(notes), "--add")
    assert none.returncode != 0 and f"no audio files found under {notes} (looked for " in none.stderr
    assert ".mp3" in none.stderr and ".ogg" in none.stderr
    assert rows(library, "SELECT path FROM roots") == [(str(folder),)] and stored() == songs
    # the folder gone (an unmounted disk): refused, every song kept; back again, nothing to do
    folder.rename(tmp_path / "away")
    missing = run()
    assert missing.returncode != 0 and f"{folder} is missing; the library holds 3 songs there and keeps them" in missing.stderr
    assert f"python -m serving --library {library} index --prune" in missing.stderr and stored() == songs
    (tmp_path / "away").rename(folder)
    assert "analysed 0, unchanged 3, moved 0, removed 0, failed 0" in run().stdout
    # a second folder, asked for; afterwards `index` alone covers both
    added = run(str(more), "--add")
    assert "analysed 1, unchanged 3," in added.stdout and f"from {folder}, {more}" in added.stdout
    assert "analysed 0, unchanged 4, moved 0, removed 0, failed 0" in run().stdout
    # the songs deleted for real: refused until --prune confirms it
    for song in folder.rglob("*.wav"):
        song.unlink()
    emptied = run()
    assert emptied.returncode != 0 and f"no audio files found under {folder}" in emptied.stderr and len(stored()) == 4
    pruned = run("--prune")
    assert "removed 3" in pruned.stdout and stored() == [str(more / "rock.00000.wav")]
