"""Resident memory over long work: `python -m serving index` over a few thousand generated songs,
then a real `bentoml serve` answering a few thousand mixed requests from that library, each
process's resident memory (RSS) sampled as the work goes on.

    python benchmarks/memory.py [--songs 3000] [--requests 3000] [--clients 4]

Figure: growth per 1,000 songs (indexer) or requests (each service process) after warm-up (the
first quarter of the work): the least-squares slope of RSS against work done, in MB and in % of
the RSS when warm-up ended. The songs are generated 3.5 s clips (data.synthetic) and the model a
seeded narrow CRNN on 3 s windows (model=crnn_small, features=short, as the smoke run): cheap
per song, so thousands fit in minutes, while every song still takes the indexer's whole path
(scan, decode, features, network, SQLite, vector index). The requests cycle through every
route: classify (an upload), recommend and similar (library ids), the library's status, search
and audio, and an unreadable upload (the error path).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import bentoml
import httpx
import numpy as np
import psutil
from common import emit, faithful_artifact
from local_server import local_server

from data.synthetic import generate
from serving.config import load_config

SONG_SECONDS = 3.5
WARM_UP = 0.25  # share of the work before growth is measured
SAMPLE_EVERY = 0.25  # seconds


class Sampler(threading.Thread):
    """RSS of each process `processes()` names ({role: psutil.Process}) against `progress()`,
    every SAMPLE_EVERY seconds until stopped."""

    def __init__(self, processes: Callable[[], dict[str, psutil.Process]], progress: Callable[[], int]):
        super().__init__(daemon=True)
        self.processes, self.progress = processes, progress
        self.samples: list[tuple[int, dict[str, int]]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(SAMPLE_EVERY):
            try:
                rss = {role: p.memory_info().rss for role, p in self.processes().items() if p.status() != psutil.STATUS_ZOMBIE}
                self.samples.append((self.progress(), rss))
            except (psutil.NoSuchProcess, sqlite3.Error):
                pass  # before the library's first write, or after a process ended

    def stop(self) -> list[tuple[int, dict[str, int]]]:
        self.stopped.set()
        self.join()
        return self.samples


def growth(samples: list[tuple[int, dict[str, int]]], total: int) -> dict[str, dict[str, float]]:
    """Per role: RSS slope per 1,000 units of work after warm-up, in MB and in % of the warm RSS."""
    warm = [(done, rss) for done, rss in samples if done >= WARM_UP * total]
    figures = {}
    for role in warm[0][1]:
        done = np.array([d for d, rss in warm if role in rss], float)
        rss = np.array([r[role] for _, r in warm if role in r], float)
        slope = np.polyfit(done, rss, 1)[0] * 1000
        figures[role] = {"mb_per_1000": slope / 2**20, "percent_per_1000": 100 * slope / rss[0],
                         "warm_mb": rss[0] / 2**20, "end_mb": rss[-1] / 2**20, "peak_mb": rss.max() / 2**20,
                         "samples": len(rss)}
    return figures


def emit_growth(benchmark: str, unit: str, samples, total: int, **params) -> None:
    for role, figures in growth(samples, total).items():
        emit(benchmark, "rss_growth_percent_per_1000", figures.pop("percent_per_1000"), f"%/1000 {unit}",
             process=role, work=total, **figures, **params)


def index_songs(music: Path, library: Path, env: dict[str, str], songs: int) -> None:
    """`python -m serving index` as users run it, sampled."""
    indexer = subprocess.Popen([sys.executable, "-m", "serving", "--library", str(library), "index", str(music)],
                               env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    process = psutil.Process(indexer.pid)

    def stored() -> int:
        with sqlite3.connect(f"file:{library / 'library.db'}?mode=ro", uri=True) as db:
            return db.execute("SELECT COUNT(*) FROM songs").fetchone()[0]

    sampler = Sampler(lambda: {"indexer": process}, stored)
    sampler.start()
    _, errors = indexer.communicate()
    samples = sampler.stop()
    if indexer.returncode:
        raise RuntimeError(f"indexing failed:\n{errors[-3000:]}")
    emit_growth("memory", "songs", samples, songs, song_seconds=SONG_SECONDS)


def server_processes(url: str) -> dict[str, psutil.Process]:
    """`bentoml serve`'s processes, named by the service each runs ("server": the parent that
    starts them): the tree above the process listening on the URL's port."""
    port = urlparse(url).port
    listener = next(c.pid for c in psutil.net_connections("tcp") if c.laddr.port == port and c.status == "LISTEN" and c.pid)
    root = psutil.Process(listener)
    while "serve" not in root.cmdline():
        root = root.parent()
    found = {"server": root}
    for child in root.children(recursive=True):
        command = child.cmdline()
        role = command[command.index("--service-name") + 1] if "--service-name" in command else "child"
        found[role if role not in found else f"{role}-{child.pid}"] = child
    return found


def serve_requests(library: Path, clips: list[Path], env: dict[str, str], requests: int, clients: int, folder: Path) -> None:
    config = folder / "serving.yaml"
    config.write_text(f"library:\n  path: {library}\n")
    with sqlite3.connect(library / "library.db") as db:
        ids = [row[0] for row in db.execute("SELECT id FROM songs ORDER BY id")]
    uploads = [(c.name, c.read_bytes()) for c in clips[:20]]
    kinds: list[Callable[[httpx.Client, int], httpx.Response]] = [
        lambda http, i: http.post("/classify", files={"audio": uploads[i % len(uploads)]}),
        lambda http, i: http.post("/recommend", data={"favorite_ids": json.dumps([ids[i % len(ids)], ids[(7 * i) % len(ids)]]), "top_k": "5"}),
        lambda http, i: http.post("/similar", data={"song_id": str(ids[i % len(ids)]), "top_k": "5"}),
        lambda http, i: http.get("/library/"),
        lambda http, i: http.get("/library/songs", params={"q": ["blues", "rock", "00012", "jazz 3"][i % 4]}),
        lambda http, i: http.get("/library/audio", params={"song_id": ids[i % len(ids)]}),
        lambda http, i: http.post("/classify", files={"audio": ("bad.mp3", b"not audio\n" * 100)}),
    ]
    done = itertools.count()
    sent = [0]
    failures: list[str] = []

    def client(index: int) -> None:
        with httpx.Client(base_url=url, timeout=300) as http:
            for i in range(index, requests, clients):
                answer = kinds[i % len(kinds)](http, i)
                if answer.status_code >= 500 or (answer.status_code >= 400 and i % len(kinds) != len(kinds) - 1):
                    failures.append(f"{answer.request.method} {answer.request.url.path}: {answer.status_code} {answer.text[:200]}")
                sent[0] = next(done) + 1

    with local_server({**env, "GENRE_SERVING_CONFIG": str(config)}, folder / "serve.log") as url:
        processes = server_processes(url)
        sampler = Sampler(lambda: processes, lambda: sent[0])
        sampler.start()
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            list(pool.map(client, range(clients)))
        samples = sampler.stop()
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[:3]}")
    emit_growth("memory", "requests", samples, requests, clients=clients, routes=len(kinds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--songs", type=int, default=3000, help="generated songs to index (a multiple of 10)")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workdir", type=Path, help="keep songs, store and library here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        env = {"BENTOML_HOME": str(work / "bentoml")}
        os.environ.update(env)
        with bentoml.models.create(load_config().model_tags[0].split(":")[0]) as model:  # the name both load
            faithful_artifact(features="short", model="crnn_small").save(model.path)
        clips = generate(work / "music", clips_per_genre=args.songs // 10, seconds=SONG_SECONDS, seed=5)
        index_songs(work / "music", work / "library", env, len(clips))
        serve_requests(work / "library", clips, env, args.requests, args.clients, work)


if __name__ == "__main__":
    main()
