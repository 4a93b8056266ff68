"""Shared helpers of the benchmark scripts: JSON-lines output and timing."""

from __future__ import annotations

import json
import os
import platform
import statistics
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


def median(values: list[float]) -> float:
    return statistics.median(values)


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    """fp32 matrix-product rate on the current threads: the machine's practical peak."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return 2 * size**3 / best_seconds(lambda: a @ b, repeats) / 1e9
