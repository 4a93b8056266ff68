"""The old model as imported, the old model fine-tuned, and the CRNN trained from scratch, side by
side on one split of a small real data set (default ../shared/gtzan_mini, 5 clips per genre).

    python benchmarks/finetune.py [--data DIR] [--epochs 10] [--fractions 0.4,0.2,0.4] [--seed 0]

Each is a real `python -m training` run into one MLflow store (in a temporary folder): the
fine-tuning run (experiment=finetune, init_from the imported genre-crnn-keras) records the old
model's own test figures before it trains (`start_test_*`), then its own; the scratch run is
experiment=crnn on the same split and epochs. Prints clip accuracy and macro-F1 on the test part
and each run's minutes, as JSON lines.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, SHARED, emit
from mlflow.tracking import MlflowClient


def run(module: str, *args: str, cwd: Path, env: dict[str, str]) -> float:
    """Minutes `python -m MODULE ARGS` took; its output on failure."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env={**os.environ, **env},
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"python -m {module} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return (time.perf_counter() - start) / 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED / "gtzan_mini")
    parser.add_argument("--weights", type=Path, default=SHARED / "seed" / "crnn_gtzan_jsalbert.h5")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--fractions", default="0.4,0.2,0.4", help="train, valid, test shares of each label")
    parser.add_argument("--seed", type=int, default=0, help="the split's seed")
    args = parser.parse_args()
    split = [f"data.root={args.data.resolve()}", "data.split=random", f"data.split_fractions=[{args.fractions}]",
             f"data.split_seed={args.seed}", f"trainer.max_epochs={args.epochs}", "data.windows_per_clip=1"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {"BENTOML_HOME": str(work / "bentoml"), "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
               "PYTHONPATH": str(REPO / "src")}
        run("training.import_keras", str(args.weights), cwd=work, env=env)
        minutes = {
            "finetune": run("training", "experiment=finetune", *split, cwd=work, env=env),
            "crnn": run("training", "experiment=crnn", *split, cwd=work, env=env),
        }
        client = MlflowClient(env["MLFLOW_TRACKING_URI"])
        experiment = client.get_experiment_by_name("genre-classification")
        runs = {r.data.tags["mlflow.runName"].split()[0]: r for r in client.search_runs([experiment.experiment_id])}
        params = {"data": args.data.name, "split": f"random {args.fractions} seed {args.seed}", "epochs": args.epochs}
        figures = {
            "keras as imported": (runs["finetune"].data.metrics, "start_", 0.0),
            "keras fine-tuned": (runs["finetune"].data.metrics, "", minutes["finetune"]),
            "crnn from scratch": (runs["crnn"].data.metrics, "", minutes["crnn"]),
        }
        for model, (metrics, prefix, spent) in figures.items():
            emit("finetune", f"{model}: test clip accuracy", metrics[f"{prefix}test_clip_acc"], "fraction", **params)
            emit("finetune", f"{model}: test macro-F1", metrics[f"{prefix}test_macro_f1"], "fraction", **params)
            if spent:
                emit("finetune", f"{model}: run time", spent, "minutes", **params)


if __name__ == "__main__":
    main()
