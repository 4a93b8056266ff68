"""`bentoml serve` as a real subprocess on 127.0.0.1, called over HTTP."""

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import REPO, bentoml_server, shared_path
from data.gtzan import GENRES

LIMITS = "max_upload_mb: 5\nmax_files: 12\nmax_duration_seconds: 400\n"


@pytest.fixture(scope="module")
def server(packaged, tmp_path_factory):
    with bentoml_server(packaged, tmp_path_factory.mktemp("serving"), LIMITS) as client:
        yield client


def _files(field, *paths):
    return [(field, (p.name, p.read_bytes())) for p in paths]


def test_classifies_a_generated_clip_of_each_genre(server, unseen):
    for genre in GENRES:
        path = unseen / genre / f"{genre}.00000.wav"
        answer = server.post("/classify", files=_files("audio", path))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["genre"] == genre, body["probabilities"]
        assert body["file"] == path.name
        assert set(body["probabilities"]) == set(GENRES)
        assert abs(sum(body["probabilities"].values()) - 1) < 1e-3
        assert body["duration"] == pytest.approx(30.0, abs=0.01)
        assert body["windows"][0]["start"] == 0.0 and len(body["windows"]) >= 10
        assert body["model"].startswith("genre-crnn:") and "generated" in body["caveat"]  # the smoke model says so


@pytest.mark.parametrize("name,seconds", [("elf-land.ogg", 26.8), ("machine_wars.mp3", 290.8)])
def test_classifies_real_ogg_and_mp3(server, name, seconds):
    path = shared_path("audio", name)
    answer = server.post("/classify", files=_files("audio", path))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["genre"] in GENRES and body["file"] == name
    assert body["duration"] == pytest.approx(seconds, abs=0.3)
    assert body["windows"][-1]["end"] == pytest.approx(body["duration"], abs=0.01)


def test_recommend_ranks_the_favourite_genre_first(server, unseen):
    favourites = [unseen / "jazz" / "jazz.00000.wav", unseen / "jazz" / "jazz.00001.wav"]
    candidates = [unseen / g / f"{g}.00002.wav" for g in ("rock", "pop", "classical", "blues")]
    candidates.insert(2, unseen / "jazz" / "jazz.00002.wav")
    answer = server.post(
        "/recommend", data={"top_k": "3"},
        files=_files("favorites", *favourites) + _files("candidates", *candidates),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["favorite_genre"] == "jazz"
    assert max(body["taste_profile"], key=body["taste_profile"].get) == "jazz"
    ranked = body["recommendations"]
    assert len(ranked) == 3 and ranked[0]["file"] == "jazz.00002.wav" and ranked[0]["genre"] == "jazz"
    assert ranked[0]["score"] >= ranked[1]["score"] >= ranked[2]["score"]
    assert "jazz" in ranked[0]["reason"] and body["errors"] == []


def _bad_files(tmp_path, unseen):
    good = (unseen / "pop" / "pop.00000.wav").read_bytes()
    rate = 22050
    short = tmp_path / "short.wav"
    sf.write(short, 0.3 * np.sin(np.arange(int(0.1 * rate)) / 10), rate)
    big = tmp_path / "big.wav"
    sf.write(big, 0.3 * np.sin(np.arange(200 * rate) / 10), rate, subtype="PCM_16")  # 8.4 MB > 5 MB
    return {
        "empty.wav": (b"", 400, "empty"),
        "notes.mp3": (b"this is a text file\n" * 40, 400, "not a readable audio file"),
        "cut.wav": (good[: len(good) // 3], 400, "truncated"),
        "short.wav": (short.read_bytes(), 400, "too short"),
        "big.wav": (big.read_bytes(), 413, "limit is 5 MB"),
    }


def test_bad_files_get_a_4xx_with_the_reason(server, unseen, tmp_path):
    for name, (content, status, reason) in _bad_files(tmp_path, unseen).items():
        answer = server.post("/classify", files=[("audio", (name, content))])
        assert answer.status_code == status, (name, answer.text)
        assert reason in answer.text and name in answer.text


def test_too_many_files_is_refused(server, unseen):
    clip = unseen / "pop" / "pop.00000.wav"
    answer = server.post("/recommend", files=_files("favorites", *[clip] * 7) + _files("candidates", *[clip] * 6))
    assert answer.status_code == 413 and "too many files" in answer.text


def test_one_broken_file_leaves_the_others_answered(server, unseen, tmp_path):
    bad = _bad_files(tmp_path, unseen)
    candidates = [("candidates", (n, bad[n][0])) for n in ("cut.wav", "notes.mp3")]
    candidates += _files("candidates", unseen / "metal" / "metal.00001.wav", unseen / "disco" / "disco.00001.wav")
    favourites = _files("favorites", unseen / "metal" / "metal.00000.wav") + [("favorites", ("empty.wav", b""))]
    answer = server.post("/recommend", files=favourites + candidates)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [r["file"] for r in body["recommendations"]] == ["metal.00001.wav", "disco.00001.wav"]
    assert sorted(e["file"] for e in body["errors"]) == ["cut.wav", "empty.wav", "notes.mp3"]
    assert all(e["status"] == 400 and e["file"] in e["error"] for e in body["errors"])


def test_no_readable_favourite_is_a_400_and_the_server_stays_up(server, unseen):
    answer = server.post("/recommend", files=[("favorites", ("empty.wav", b""))] + _files("candidates", unseen / "pop" / "pop.00001.wav"))
    assert answer.status_code == 400 and "no readable favourites" in answer.text and "empty.wav" in answer.text
    again = server.post("/classify", files=_files("audio", unseen / "reggae" / "reggae.00001.wav"))
    assert again.status_code == 200 and again.json()["genre"] == "reggae"


def test_the_openapi_document_types_both_answers(server):
    spec = server.get("/docs.json").json()
    schemas = spec["components"]["schemas"]

    def resolve(schema: dict) -> dict:
        return schemas[schema["$ref"].rsplit("/", 1)[-1]] if "$ref" in schema else schema

    def answer(path: str) -> dict:
        return resolve(spec["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"])

    classify = answer("/classify")
    assert {"file", "genre", "probabilities", "duration", "windows", "model"} <= set(classify["required"])
    window = resolve(classify["properties"]["windows"]["items"])
    assert set(window["properties"]) == {"start", "end", "probabilities"}
    recommend = answer("/recommend")
    assert set(recommend["properties"]) == {"model", "caveat", "favorite_genre", "taste_profile", "taste_tags",
                                            "favorites", "recommendations", "errors"}
    entry = resolve(recommend["properties"]["recommendations"]["items"])
    assert set(entry["properties"]) == {"file", "id", "title", "artist", "genre", "score", "reason", "probabilities",
                                        "tags"}
    assert entry["properties"]["score"]["type"] == "number"
    assert "status" in resolve(recommend["properties"]["errors"]["items"])["properties"]


def test_without_a_model_bentoml_serve_stops_with_one_line_saying_how_to_get_one(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bentoml", "serve", "--port", "0"], cwd=REPO, capture_output=True,
                          text=True, timeout=180, env={**os.environ, "BENTOML_HOME": str(tmp_path / "empty")})
    said = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode != 0 and len(said) == 1, said
    assert said[0].startswith("error: no model genre-crnn:latest or genre-crnn-keras:latest or musicnn-msd:latest in "
                              "the BentoML store")
    assert "python -m training.import_keras" in said[0] and "python -m training.package" in said[0]
