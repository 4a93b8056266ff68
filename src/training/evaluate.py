"""Re-run the test (or any split) of a trained model and print the same metrics as training.

    python -m training.evaluate CHECKPOINT.ckpt [--split valid] [--data-root DIR]
    python -m training.evaluate --run-id RUN_ID   # the run's best checkpoint, from MLflow

The checkpoint carries its network, feature and data settings; `--data-root` and `--split`
point it at other data.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import lightning as L
from mlflow.tracking import MlflowClient

from data.datamodule import FolderDataModule
from training.config import compose_config
from training.module import GenreClassifier
from training.results import print_results
from training.tracking import download_best_checkpoint


def evaluate(checkpoint: Path, split: str, data_root: str | None, workers: int | None) -> dict[str, float]:
    model = GenreClassifier.load_from_checkpoint(checkpoint, map_location="cpu", weights_only=True)
    datamodule = FolderDataModule.load_from_checkpoint(checkpoint, weights_only=True,
                                                      **({"root": data_root} if data_root else {}),
                                                      **({"num_workers": workers} if workers is not None else {}))
    if datamodule.labels != model.labels:
        sys.exit(f"{datamodule.root} holds the labels {datamodule.labels}, but {checkpoint} was trained on {model.labels}")
    datamodule.test_split = split
    trainer = L.Trainer(accelerator="auto", devices=1, logger=False, enable_checkpointing=False)
    results = trainer.test(model, datamodule=datamodule, verbose=False)[0]
    print_results(results, f"Metrics on split {split!r}", f"{checkpoint} on {datamodule.root} ({datamodule.split_name} split, {datamodule.split_sizes()[split]} clips)")
    return results


def main(argv: list[str] | None = None) -> None:
    tracking = compose_config().tracking
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("checkpoint", nargs="?", type=Path, help="a Lightning checkpoint of this project")
    source.add_argument("--run-id", help="an MLflow run id: evaluate its best checkpoint")
    parser.add_argument("--split", default="test", choices=["train", "valid", "test"])
    parser.add_argument("--data-root", help="evaluate on this data set folder instead (one sub-folder per label)")
    parser.add_argument("--workers", type=int, help="data loader workers (default: the checkpoint's)")
    parser.add_argument("--tracking-uri", default=tracking.uri, help=f"MLflow store (default {tracking.uri})")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            checkpoint = args.checkpoint or download_best_checkpoint(MlflowClient(args.tracking_uri), args.run_id, Path(tmp))
        except FileNotFoundError as exc:
            sys.exit(str(exc))
        evaluate(checkpoint, args.split, args.data_root, args.workers)


if __name__ == "__main__":
    main()
