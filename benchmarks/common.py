"""Shared helpers of the benchmark scripts: JSON-lines output and timing."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_AUDIO = REPO.parent / "shared" / "audio"
sys.path.insert(0, str(REPO / "src"))


def emit(benchmark: str, figure: str, value: float, unit: str, **params) -> None:
    """One measured figure as a JSON line, with the machine it was measured on."""
    print(json.dumps({
        "benchmark": benchmark, "figure": figure, "value": round(value, 6), "unit": unit,
        "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(), "params": params,
    }), flush=True)


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
