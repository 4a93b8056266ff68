"""Data-pipeline overhead of training: steps fed by the real FolderDataModule (feature cache,
random windows, workers) against the same number of steps on batches already in memory.

    python benchmarks/training.py [--steps 40] [--workers 0,2]

Uses the smoke configuration (experiment=smoke: generated GTZAN-shaped data, short windows, the
narrow CRNN), the one that trains on these machines; the overhead is (pipeline - in memory) / in memory.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from itertools import cycle, islice

import torch
from common import emit
from hydra.utils import instantiate

from data.datamodule import FolderDataModule
from training.config import compose_config
from training.module import GenreClassifier


def timed_steps(model, optimizer, batches) -> float:
    """Mean seconds per optimisation step over `batches` (an iterator of (x, y))."""
    count, start = 0, time.perf_counter()
    for batch in batches:
        optimizer.zero_grad(set_to_none=True)
        model.training_step(batch, count).backward()
        optimizer.step()
        count += 1
    return (time.perf_counter() - start) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--workers", default="0,2")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (int(w) for w in args.workers.split(",")):
            cfg = compose_config("experiment=smoke", f"data.root={tmp}/data", f"data.cache_dir={tmp}/cache",
                                 f"data.num_workers={workers}")
            torch.manual_seed(0)
            datamodule: FolderDataModule = instantiate(cfg.data, _convert_="all")
            datamodule.prepare_data()
            datamodule.setup("fit")
            model = GenreClassifier.from_config(cfg, datamodule.labels)
            model.log = lambda *a, **k: None  # no trainer attached: logging is not what is measured
            optimizer = model.configure_optimizers()
            loader = datamodule.train_dataloader()
            timed_steps(model, optimizer, islice(cycle(loader), 5))  # warm up threads and workers
            in_memory = list(islice(cycle(loader), args.steps))
            # Interleaved, best of two each: drift on a shared machine hits both alike.
            pipeline, memory = float("inf"), float("inf")
            for _ in range(2):
                pipeline = min(pipeline, timed_steps(model, optimizer, islice(cycle(loader), args.steps)))
                memory = min(memory, timed_steps(model, optimizer, iter(in_memory)))
            params = {"workers": workers, "steps": args.steps, "batch_size": datamodule.batch_size,
                      "window_frames": datamodule.windows.frames(datamodule.spectrogram), "network": cfg.model.network.name,
                      "channels": list(cfg.model.network.channels)}
            emit("training", "seconds_per_step_pipeline", pipeline, "s", **params)
            emit("training", "seconds_per_step_in_memory", memory, "s", **params)
            emit("training", "data_pipeline_overhead", (pipeline - memory) / memory, "ratio", **params)


if __name__ == "__main__":
    main()
