"""Shared helpers of the benchmark scripts: JSON-lines output, timing, and the settings and
model they measure (read from conf/, never restated here)."""

from __future__ import annotations

import concurrent.futures
import json
import os
import platform
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_AUDIO = SHARED / "audio"
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "devtools"))  # local_server: a development helper, not installed

from data.features import SpectrogramConfig  # noqa: E402
from data.gtzan import GENRES  # noqa: E402
from data.windows import WindowConfig  # noqa: E402
from model.artifact import ModelArtifact  # noqa: E402
from model.networks import build_network  # noqa: E402
from training.config import feature_settings, network_config  # noqa: E402,F401  (scripts import them from here)


def window_shape(spectrogram: SpectrogramConfig, windows: WindowConfig) -> tuple[int, int, int]:
    """(channels, n_mels, frames): one network input window."""
    return 1, spectrogram.n_mels, windows.frames(spectrogram)


def faithful_artifact(features: str = "choi", model: str = "crnn") -> ModelArtifact:
    """The default configuration's model (the faithful CRNN on features=choi windows, one output
    per GTZAN genre; or the `features` and `model` config groups named) with seeded random
    weights: its speed and memory do not depend on its weights."""
    overrides = f"features={features}", f"model={model}"
    spectrogram, windows = feature_settings(*overrides)
    network = network_config(*overrides)
    torch.manual_seed(0)
    return ModelArtifact(network, spectrogram, windows, list(GENRES),
                         build_network(network, len(GENRES)).state_dict(), "softmax")


def emit(benchmark: str, figure: str, value: float, unit: str, **params) -> None:
    """One measured figure as a JSON line, with the machine it was measured on."""
    print(json.dumps({
        "benchmark": benchmark, "figure": figure, "value": round(value, 6), "unit": unit,
        "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(), "params": params,
    }), flush=True)


def classify_concurrently(url: str, songs: list[Path], clients: int, per_client: int) -> tuple[list[tuple[float, httpx.Response]], float]:
    """`clients` clients starting together, each posting `per_client` songs to /classify one after
    another (client i from song i * per_client on, round the list): (seconds, answer) of every
    request, and the seconds all of them took."""
    start_together = threading.Barrier(clients)

    def client(index: int) -> list[tuple[float, httpx.Response]]:
        results = []
        with httpx.Client(base_url=url, timeout=900) as http:
            start_together.wait()
            for i in range(per_client):
                song = songs[(index * per_client + i) % len(songs)]
                data = song.read_bytes()
                sent = time.perf_counter()
                answer = http.post("/classify", files={"audio": (song.name, data)})
                results.append((time.perf_counter() - sent, answer))
        return results

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = [r for rs in pool.map(client, range(clients)) for r in rs]
    return results, time.perf_counter() - start


def best_seconds(fn: Callable[[], object], repeats: int = 3, warmup: int = 1) -> float:
    """The fastest of `repeats` timed calls after `warmup` untimed ones (the least disturbed)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def best_seconds_interleaved(fns: dict[str, Callable[[], object]], repeats: int = 3) -> dict[str, float]:
    """Best time of each function, run in turns (a, b, a, b, ...) so that drift on a shared
    machine hits all of them alike; one untimed warm-up call each first."""
    for fn in fns.values():
        fn()
    best = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    """fp32 matrix-product rate on the current threads: the machine's practical peak."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return 2 * size**3 / best_seconds(lambda: a @ b, repeats) / 1e9
