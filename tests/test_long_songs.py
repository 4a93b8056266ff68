"""Over real HTTP to `bentoml serve` with the packaged smoke model: long songs sent at
once are all answered on the default serving configuration, and a file the network refuses
reaches the client as one readable reason."""

import concurrent.futures

import numpy as np
import pytest
import soundfile as sf

from conftest import bentoml_server
from data.synthetic import SAMPLE_RATE, render_clip


def _song(path, genre: str, seconds: float, repeats: int = 1, seed: int = 0):
    """A generated clip, played `repeats` times (rendering a whole long song costs seconds)."""
    sf.write(path, np.tile(render_clip(genre, seconds, np.random.default_rng(seed)), repeats), SAMPLE_RATE, subtype="PCM_16")
    return path


def _overloaded(name: str) -> str:
    return f"{name}: not analysed, the genre network is overloaded; please try again in a few minutes"


def _post_all(server, route: str, files: list) -> list:
    with concurrent.futures.ThreadPoolExecutor(len(files)) as pool:
        return list(pool.map(lambda p: server.post(route, files={"audio": (p.name, p.read_bytes())}), files))


def test_long_songs_sent_at_once_are_all_answered_on_the_default_configuration(packaged, tmp_path):
    """With a fixed batching budget of 10 s, most of these got HTTP 503 ("process is overloaded")."""
    minutes = {"rock": 5, "jazz": 6, "metal": 7, "blues": 5, "pop": 6, "country": 5}
    songs = [_song(tmp_path / f"{genre}.wav", genre, 60.0, n, seed) for seed, (genre, n) in enumerate(minutes.items())]
    with bentoml_server(packaged, tmp_path) as server:  # conf/serving.yaml as it is
        answers = _post_all(server, "/classify", songs)
    assert [a.status_code for a in answers] == [200] * len(songs), [a.text for a in answers if a.status_code != 200]
    assert [a.json()["duration"] for a in answers] == pytest.approx([60.0 * n for n in minutes.values()])


def test_a_file_the_network_refuses_is_reported_once_with_a_readable_reason(packaged, tmp_path):
    """A batching budget of 1 ms (a configuration that sheds load) makes the network refuse windows
    that arrive while it is busy: the files of one recommend are analysed at once, a short
    favourite first, so some of the long candidates are refused."""
    favourite = _song(tmp_path / "favourite.wav", "jazz", 4.0)
    candidates = [_song(tmp_path / f"candidate-{i}.wav", "jazz", 60.0, seed=i) for i in range(4)]
    with bentoml_server(packaged, tmp_path, "max_latency_ms: 1\n") as server:
        for _ in range(12):  # BentoML's dispatcher sheds nothing until it has timed a dozen calls
            server.post("/classify", files={"audio": (favourite.name, favourite.read_bytes())})
        for _ in range(5):  # the short favourite itself may be refused on a busy machine: ask again
            answer = server.post("/recommend", files=[("favorites", (favourite.name, favourite.read_bytes()))]
                                 + [("candidates", (c.name, c.read_bytes())) for c in candidates])
            if answer.status_code == 200 and answer.json()["errors"]:
                break
        classified = _post_all(server, "/classify", candidates)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    ranked, errors = {r["file"] for r in body["recommendations"]}, body["errors"]
    assert errors and sorted(ranked | {e["file"] for e in errors}) == [c.name for c in candidates]
    assert all(e == {"file": e["file"], "error": _overloaded(e["file"]), "status": 503} for e in errors), errors
    refused = {c.name: a for c, a in zip(candidates, classified) if a.status_code != 200}
    assert refused, "four long songs at once: the network refuses some"
    assert all(a.status_code == 503 and a.json() == {"error": _overloaded(name)} for name, a in refused.items())
