"""A model with tags (MSD-musicnn) end to end: tags in the answers over HTTP and in the CLI, a
library that stores them, searches by them and answers `similar` with them. Real GTZAN clips
from ../shared/gtzan_mini, the real network downloaded from PyPI."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from conftest import bentoml_server, index, rows, run_module, shared_path
from training.config import compose_config

GENRES = ("metal", "jazz", "country")  # three genres that the MSD's 50 tags name as such


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """3 real GTZAN clips of each of GENRES, one folder per genre."""
    source = shared_path("gtzan_mini")
    root = tmp_path_factory.mktemp("tagged-music")
    for genre in GENRES:
        (root / genre).mkdir()
        for clip in sorted(source.rglob(f"{genre}.*"))[:3]:
            shutil.copy(clip, root / genre / clip.name)
    return root


@pytest.fixture(scope="module")
def tagged_library(clips, musicnn_store, tmp_path_factory) -> Path:
    library = tmp_path_factory.mktemp("tagged-library")
    done = index(clips, library, musicnn_store)
    assert "analysed 9," in done.stdout
    analysis = json.loads(rows(library, "SELECT value FROM meta WHERE key = 'analysis'")[0][0])
    windows = compose_config("features=musicnn").features.windows.library_windows
    assert analysis["max_windows"] == windows and rows(library, "SELECT DISTINCT windows FROM songs") == [(windows,)]
    return library


def test_the_cli_answers_tags_and_searches_the_library_by_them(clips, tagged_library, musicnn_store):
    cli = ("serving", "--library", str(tagged_library))
    metal = sorted((clips / "metal").iterdir())
    done = run_module(*cli, "classify", str(metal[0]), "--json", cwd=clips, env=musicnn_store)
    [song] = json.loads(done.stdout)["songs"]
    assert song["model"].startswith("musicnn-msd:") and len(song["tags"]) == 5
    assert list(song["tags"].values()) == sorted(song["tags"].values(), reverse=True)
    assert all(0 < p < 1 for p in song["tags"].values())
    assert "metal" in {tag.casefold() for tag in song["tags"]}  # a GTZAN metal clip: "metal" among its top tags

    found = json.loads(run_module(*cli, "search", "--tag", "METAL", "--json", cwd=clips, env=musicnn_store).stdout)
    assert found["total"] >= 2 and all("metal" in s["tags"] for s in found["songs"])
    assert {s["file"] for s in found["songs"][:2]} <= {p.name for p in metal}  # the likeliest metal first
    both = json.loads(run_module(*cli, "search", "metal.0000", "--tag", "metal", "--json", cwd=clips, env=musicnn_store).stdout)
    assert both["total"] >= 1 and all(s["file"].startswith("metal.0000") for s in both["songs"])  # words and tags together

    table = run_module(*cli, "search", "--tag", "metal", cwd=clips, env=musicnn_store).stdout
    assert "top tags" in table and "found" in table
    wrong = run_module(*cli, "search", "--tag", "klezmer", cwd=clips, env=musicnn_store, check=False)
    assert wrong.returncode == 1 and "has no tag 'klezmer'" in wrong.stderr and "Mellow" in wrong.stderr


def test_similar_on_a_musicnn_library_finds_the_same_genre_and_says_which_tags_match(clips, tagged_library,
                                                                                     musicnn_store):
    for genre in ("metal", "jazz"):
        asked = sorted((clips / genre).iterdir())[0]
        done = run_module("serving", "--library", str(tagged_library), "similar", str(asked), "--top-k", "2", "--json",
                          cwd=clips, env=musicnn_store)
        answer = json.loads(done.stdout)
        assert "answered from the library" in done.stderr
        assert [Path(r["file"]).name.split(".")[0] for r in answer["recommendations"]] == [genre, genre]
        best = answer["recommendations"][0]
        assert f"like {asked.name}" in best["reason"] and "tag match" in best["reason"] and best["tags"]
        assert answer["taste_tags"] == answer["favorites"][0]["tags"]  # one song: its own tags


def test_tags_are_answered_over_http_and_the_library_is_searched_by_tag(clips, tagged_library, musicnn_store, browser,
                                                                        tmp_path):
    config = f"library:\n  path: {tagged_library}\n"
    with bentoml_server(musicnn_store, tmp_path, config) as server:
        with open(sorted((clips / "jazz").iterdir())[0], "rb") as f:
            song = server.post("/classify", files={"audio": ("jazz.wav", f, "audio/wav")}).json()
        assert song["model"].startswith("musicnn-msd:") and len(song["tags"]) == 5 and len(song["probabilities"]) == 50
        status = server.get("/library/").json()
        assert status["answering"] and len(status["tags"]) == 50 and "jazz" in status["tags"]
        found = server.get("/library/songs", params={"tag": "jazz"}).json()
        assert found["total"] >= 1 and all("jazz" in s["tags"] for s in found["songs"])
        assert found["songs"][0]["file"].startswith("jazz.")
        refused = server.get("/library/songs", params={"tag": "klezmer"})
        assert refused.status_code == 400 and "has no tag 'klezmer'" in refused.json()["detail"]
        # The page: each library song shows its top tags; one click lists the songs showing that tag.
        page = browser.new_page(base_url=str(server.base_url))
        page.goto("/")
        page.get_by_role("button", name="Library").click()
        first = page.locator("#library-results > li").first
        expect(first.locator(".tags button").first).to_be_visible(timeout=60_000)
        page.locator("#library-results li", has_text="metal.0000").first.get_by_role("button", name=re.compile("^metal ")).click()
        expect(page.locator("#search-tag")).to_have_value("metal")
        metal = server.get("/library/songs", params={"tag": "metal"}).json()["total"]
        expect(page.locator("#search-count")).to_have_text(f"{metal} song{'s' if metal > 1 else ''} match{'' if metal > 1 else 'es'}")
        expect(page.locator("#library-results > li")).to_have_count(metal)
        for song in page.locator("#library-results > li").all():
            expect(song.locator(".tags")).to_contain_text("metal")
        page.screenshot(path=tmp_path / "library-by-tag.png", full_page=True)
        page.close()
