"""Song paths: songs that walk from one library song to another through the song-vector space.
The walk on a real library (SQLite + faiss) checked against a brute-force walk, exact copies on a
library built to tempt it, then `python -m serving path`, `POST /path` on a real `bentoml serve`
and the page in a real browser."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect

from conftest import bentoml_server, rows, run_module
from library.queries import LibraryQueries, SongNotFound
from library.ranking import score_of
from library.store import Library
from serving.config import load_config

CONFIG = load_config()
ANSWER_MS = 60_000


def queries_of(folder: Path) -> LibraryQueries:
    return LibraryQueries(Library(folder), CONFIG.genre_weight, CONFIG.library)


def ids_by_file(library: Path) -> dict[str, int]:
    return {Path(path).name: song_id for song_id, path in rows(library, "SELECT id, path FROM songs")}


def brute_force_walk(library: Library, from_id: int, to_id: int, steps: int) -> list[tuple[int, float]]:
    """The walk computed over every stored vector with numpy: (id, score) of each song."""
    ids, vectors = library.vectors(CONFIG.genre_weight)
    row = {int(song_id): i for i, song_id in enumerate(ids)}
    copies = {song.id: song.content_hash for song in library.songs()}
    points = np.linspace(vectors[row[from_id]], vectors[row[to_id]], steps)
    walked, used = [from_id], {copies[from_id], copies[to_id]}
    for point in points[1:-1]:
        scores = vectors @ point
        best = max((i for i in ids if copies[int(i)] not in used), key=lambda i: scores[row[int(i)]])
        walked.append(int(best))
        used.add(copies[int(best)])
    walked.append(to_id)
    return [(song_id, float(score_of(vectors[row[song_id]] @ point, CONFIG.genre_weight)))
            for song_id, point in zip(walked, points)]


def test_a_path_goes_from_first_to_last_each_step_the_nearest_unused_song(indexed):
    queries = queries_of(indexed)
    ids = ids_by_file(indexed)
    distinct = len({song.content_hash for song in queries.songs.values()})
    for start, end in (("metal.00000.wav", "jazz.00000.wav"), ("classical.00001.wav", "hiphop.00000.wav")):
        for steps in (2, 3, 7, distinct):
            walked = queries.walk(ids[start], ids[end], steps)
            assert len(walked) == steps and walked[0].song.id == ids[start] and walked[-1].song.id == ids[end]
            assert len({step.song.content_hash for step in walked}) == steps  # no song twice, nor a copy
            expected = brute_force_walk(queries.library, ids[start], ids[end], steps)
            assert [step.song.id for step in walked] == [song_id for song_id, _ in expected]
            assert [step.score for step in walked] == pytest.approx([score for _, score in expected], abs=1e-5)
            assert walked[0].score == pytest.approx(1, abs=1e-5) and walked[-1].score == pytest.approx(1, abs=1e-5)
            assert queries.path(ids[start], ids[end], steps) == [step.song for step in walked]


def arc_library(folder: Path) -> Library:
    """Songs whose sound lies on a quarter circle (same genres): FROM at 0°, TO at 90°, between
    them 40°, 45°, 70° and 85°, with an exact copy of FROM and one of the 45° song."""
    library = Library(folder)
    songs = [("from", "a", 0), ("from-copy", "a", 0), ("40", "b", 40), ("45", "c", 45), ("45-copy", "c", 45),
             ("70", "d", 70), ("85", "e", 85), ("to", "f", 90)]
    probabilities = np.full(10, 0.1, np.float32).tobytes()
    library.write([{"path": f"/music/{name}.ogg", "content_hash": content, "size": 1, "mtime_ns": 1, "duration": 200.0,
                    "title": None, "artist": None, "album": None, "genre": "rock", "probabilities": probabilities,
                    "embedding": np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle))], np.float32).tobytes(),
                    "tags": b"", "windows": 1, "analysed_at": 0.0}
                   for name, content, angle in songs], [], [], [])
    return library


def test_exact_copies_are_never_steps_and_impossible_paths_say_why(tmp_path):
    queries = LibraryQueries(arc_library(tmp_path), CONFIG.genre_weight, CONFIG.library)
    named = {song.name.removesuffix(".ogg"): song.id for song in queries.songs.values()}
    # 6 steps: points at 14°, 34°, 56° and 76°. The copy of FROM is the nearest song to the first,
    # the 45° song's copy to the third once the 45° song is used: neither may be taken.
    walked = [step.song.name.removesuffix(".ogg") for step in queries.walk(named["from"], named["to"], 6)]
    assert walked[:2] == ["from", "40"] and walked[2] in {"45", "45-copy"} and walked[3:] == ["70", "85", "to"]
    assert [s.name for s in queries.path(named["from"], named["to"], 2)] == ["from.ogg", "to.ogg"]
    with pytest.raises(SongNotFound, match="no song 999 in the library"):
        queries.path(named["from"], 999, 4)
    with pytest.raises(ValueError, match="at least 2 songs"):
        queries.path(named["from"], named["to"], 1)
    with pytest.raises(ValueError, match="both ends are song"):
        queries.path(named["to"], named["to"], 3)
    with pytest.raises(ValueError, match="needs 5 between its ends; the library holds only 4 other songs"):
        queries.path(named["from"], named["to"], 7)


def test_the_cli_prints_a_path_as_a_table_json_and_a_playlist_without_importing_torch(music, indexed, tmp_path):
    ids = ids_by_file(indexed)
    metal = next(music.rglob("metal.00000.wav"))
    expected = [step.song for step in queries_of(indexed).walk(ids["metal.00000.wav"], ids["jazz.00000.wav"], 5)]
    # FROM as a file, TO as an id; no model in the store: a library question needs none
    asked = ("--library", str(indexed), "path", str(metal), str(ids["jazz.00000.wav"]), "--steps", "5")
    no_store = {"BENTOML_HOME": str(tmp_path / "empty-store")}
    table = run_module("serving", *asked, python=("-X", "importtime"), cwd=tmp_path, env=no_store)
    assert "A path of 5 songs" in table.stdout and "answered from the library in" in table.stderr
    shown = [line.split("│")[1:4] for line in table.stdout.splitlines() if re.match(r"│ \d ", line)]
    assert [(number.strip(), song.strip(), genre.strip()) for number, song, genre in shown] == [
        (str(n), song.label(), song.genre) for n, song in enumerate(expected, 1)]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in table.stderr.splitlines() if "import time:" in line}
    assert "library" in imported and "faiss" in imported
    assert not {"torch", "torchaudio", "bentoml", "lightning", "mlflow"} & imported

    playlist = tmp_path / "path.m3u8"
    done = run_module("serving", *asked, "--json", "--playlist", str(playlist), cwd=tmp_path, env=no_store)
    answer = json.loads(done.stdout)
    assert answer["model"].startswith("genre-crnn:") and answer["caveat"]
    assert [(s["id"], s["file"]) for s in answer["songs"]] == [(song.id, song.name) for song in expected]
    assert answer["songs"][0]["score"] == pytest.approx(1, abs=1e-5) and set(answer["songs"][0]["probabilities"])
    assert playlist.read_text().splitlines()[2::2] == [song.path for song in expected]

    def refused(*arguments: str) -> str:
        done = run_module("serving", "--library", str(indexed), "path", *arguments, cwd=tmp_path, env=no_store, check=False)
        assert done.returncode != 0 and not done.stdout
        return done.stderr.strip()

    assert refused(str(metal), "999999") == "error: no song 999999 in the library"
    assert refused(str(metal), str(ids["jazz.00000.wav"]), "--steps", "1").startswith("error: a path has at least 2 songs")
    (tmp_path / str(ids["jazz.00000.wav"])).write_text("a file named by digits is that file, not an id")
    assert "is not a song of the library" in refused(str(metal), str(ids["jazz.00000.wav"]))


@pytest.fixture(scope="module")
def server(packaged, indexed, tmp_path_factory):
    with bentoml_server(packaged, tmp_path_factory.mktemp("path"), f"library:\n  path: {indexed}\n") as client:
        yield client


def test_post_path_answers_the_path_and_404_or_400_with_the_reason(server, indexed):
    ids = ids_by_file(indexed)
    ends = {"from_id": ids["metal.00000.wav"], "to_id": ids["jazz.00000.wav"]}
    expected = [step.song.id for step in queries_of(indexed).walk(*ends.values(), 6)]
    answer = server.post("/path", json={**ends, "steps": 6})
    assert answer.status_code == 200, answer.text
    assert [song["id"] for song in answer.json()["songs"]] == expected
    as_form = server.post("/path", data={**ends, "steps": 6})  # as the page and curl -F send it
    assert as_form.status_code == 200 and as_form.json() == answer.json()
    assert len(server.post("/path", json=ends).json()["songs"]) == CONFIG.top_k  # steps by default
    for body, status, reason in (({**ends, "to_id": 999999}, 404, "no song 999999 in the library"),
                                 ({**ends, "steps": 1}, 400, "at least 2 songs"),
                                 ({**ends, "steps": 100}, 400, "the library holds only"),
                                 ({**ends, "steps": CONFIG.max_path_steps + 1}, 400, "songs per path"),
                                 ({**ends, "to_id": ends["from_id"]}, 400, "both ends are song")):
        refused = server.post("/path", json=body)
        assert refused.status_code == status and reason in refused.json()["error"], refused.text
    document = server.get("/docs.json").json()["paths"]["/path"]["post"]["responses"]
    assert {"200", "400", "404"} <= set(document)


def test_the_page_walks_from_one_library_song_to_another(server, indexed, browser, tmp_path):
    ids = ids_by_file(indexed)
    expected = server.post("/path", json={"from_id": ids["metal.00000.wav"], "to_id": ids["jazz.00000.wav"],
                                          "steps": 5}).json()["songs"]
    page = browser.new_page(base_url=str(server.base_url), accept_downloads=True)
    script_errors = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    page.goto("/")
    page.click("nav button[data-view=library]")
    expect(page.locator("#path-go")).to_be_disabled()
    for file, end in (("metal.00000.wav", "from"), ("jazz.00000.wav", "to")):
        page.fill("#search", file)
        page.press("#search", "Enter")
        expect(page.locator("#search-count")).to_have_text("1 song matches")
        song = page.locator("#library-results > li")
        song.get_by_role("button", name=f"Path {end} here: {file}").click()
        expect(song.locator(".said")).to_contain_text(f"the path {'starts' if end == 'from' else 'ends'} here")
    expect(page.locator("#path-ends")).to_have_text("From metal.00000.wav to jazz.00000.wav")
    page.fill("#path-steps", "5")
    page.click("#path-go")
    walked = page.locator("#path-result .ranked > li")
    expect(walked).to_have_count(5, timeout=ANSWER_MS)
    expect(page.locator("#path-result h3")).to_have_text("From metal.00000.wav to jazz.00000.wav")
    assert walked.locator("strong").all_inner_texts() == [song["file"] for song in expected]
    expect(walked.first).to_contain_text("score 1.000")
    with page.expect_download() as download:
        page.click("#path-result button:text('Download playlist (M3U8)')")
    assert download.value.suggested_filename == "path.m3u8"
    addresses = Path(download.value.path()).read_text().splitlines()[2::2]
    assert [int(address.rsplit("=", 1)[1]) for address in addresses] == [song["id"] for song in expected]
    page.screenshot(path=tmp_path / "path.png", full_page=True)

    page.fill("#path-steps", "150")  # more than the library holds: the server's reason, as text
    page.click("#path-go")
    expect(page.locator("#path-result .failed")).to_contain_text("the library holds only", timeout=ANSWER_MS)
    page.close()
    assert script_errors == []
