"""`bentoml serve` under load: throughput and latency at 1, 4 and 16 concurrent clients, against
the offline batch throughput of the same model measured in the same run.

    python benchmarks/service.py [--requests-per-client 4] [--clients 1,4,16]

The server runs on 127.0.0.1 with a faithful CRNN packaged into a temporary BentoML store under
the name the serving config serves (conf/serving.yaml, conf/tracking.yaml); each request is
POST /classify of a generated 30 s GTZAN-shaped clip. Offline throughput is the same work
without HTTP in one process: decode, features (the song cut into windows), the network, summaries.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import bentoml
import numpy as np
from common import best_seconds, classify_concurrently, emit, faithful_artifact
from local_server import local_server

from data.synthetic import generate
from model.artifact import ModelArtifact
from model.precision import load_classifier, resolve_precision
from model.predict import SongAnalyzer, WindowClassifier, WindowOutputs
from serving.config import load_config


def offline_clips_per_second(artifact: ModelArtifact, clips: list[Path], classifier: WindowClassifier) -> float:
    """One process, no HTTP: every clip prepared, all windows through the network as the
    service runs it, every clip summarised. Best of two passes (the first warms oneDNN up)."""
    analyzer = SongAnalyzer(artifact)

    def one_pass() -> None:
        songs = [analyzer.prepare(c) for c in clips]
        outputs = classifier.forward(np.concatenate([s.windows for s in songs]))
        offsets = np.cumsum([0] + [len(s.windows) for s in songs])
        for i, (song, clip) in enumerate(zip(songs, clips)):
            analyzer.summarize(clip.name, song, WindowOutputs(*(rows[offsets[i] : offsets[i + 1]] for rows in outputs)))

    return len(clips) / best_seconds(one_pass, repeats=2, warmup=0)


def drive(url: str, clips: list[Path], clients: int, per_client: int) -> tuple[float, list[float], int]:
    """(throughput in requests/s, latencies in s, errors) for `clients` concurrent clients."""
    results, elapsed = classify_concurrently(url, clips, clients, per_client)
    return len(results) / elapsed, [seconds for seconds, _ in results], sum(a.status_code != 200 for _, a in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--requests-per-client", type=int, default=4)
    args = parser.parse_args()
    config = load_config()
    artifact = faithful_artifact()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clips = generate(tmp / "clips", clips_per_genre=2, seed=11)
        os.environ["BENTOML_HOME"] = str(tmp / "bentoml")
        with bentoml.models.create(config.model_tags[0].split(":")[0]) as model:  # the name the server loads
            artifact.save(model.path)
        # The network as the server will load it: same backend, precision and windows per pass.
        classifier, _ = load_classifier(artifact, config.backend, config.precision, config.network_batch)
        precision, _ = resolve_precision(config.precision, artifact)
        offline = offline_clips_per_second(artifact, clips, classifier)
        common = {"backend": config.backend, "precision": precision, "clip_seconds": 30,
                  "max_batch_size": config.max_batch_size, "network_batch": config.network_batch}
        emit("service", "offline_clips_per_second", offline, "clip/s", clips=len(clips), **common)
        with local_server({"BENTOML_HOME": str(tmp / "bentoml")}, tmp / "serve.log") as url:
            drive(url, clips[:2], 1, 1)  # warm-up
            for clients in (int(c) for c in args.clients.split(",")):
                throughput, latencies, errors = drive(url, clips, clients, args.requests_per_client)
                params = {"clients": clients, "requests": len(latencies), **common}
                emit("service", "requests_per_second", throughput, "request/s", **params)
                for q in (50, 95, 99):
                    emit("service", f"latency_p{q}", float(np.percentile(latencies, q)), "s", **params)
                emit("service", "errors", errors, "request", **params)
                emit("service", "throughput_vs_offline", throughput / offline, "ratio", **params)


if __name__ == "__main__":
    main()
