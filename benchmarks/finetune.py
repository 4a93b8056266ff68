"""The old model as imported, the old model fine-tuned, the CRNN trained from scratch, and a genre
head on MSD-musicnn, side by side on one split of a small real data set (default
../shared/gtzan_mini, 5 clips per genre).

    python benchmarks/finetune.py [--data DIR] [--epochs 10] [--fractions 0.4,0.2,0.4] [--seed 0] [--arms ...]

Each is a real `python -m training` run into one MLflow store (in a temporary folder): the
fine-tuning run (experiment=finetune, init_from the imported genre-crnn-keras) records the old
model's own test figures before it trains (`start_test_*`), then its own; the scratch run is
experiment=crnn on the same split and epochs; the musicnn run is experiment=finetune_musicnn
(the head alone on the frozen network, its tags kept). Prints clip accuracy and macro-F1 on the test part
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


# Each arm: the experiment and its own overrides. The 29.12 s-window models see one window per
# clip and epoch; MSD-musicnn's head sees every 3 s patch (about the same audio) at its
# experiment's settings.
ARMS = {
    "finetune": ("experiment=finetune", "data.windows_per_clip=1"),
    "crnn": ("experiment=crnn", "data.windows_per_clip=1"),
    "finetune_musicnn": ("experiment=finetune_musicnn",),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED / "gtzan_mini")
    parser.add_argument("--weights", type=Path, default=SHARED / "seed" / "crnn_gtzan_jsalbert.h5")
    parser.add_argument("--musicnn", type=Path, default=REPO / "models" / "musicnn",
                        help="MSD-musicnn as scripts/download_musicnn.sh leaves it (fetched there if absent)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--fractions", default="0.4,0.2,0.4", help="train, valid, test shares of each label")
    parser.add_argument("--seed", type=int, default=0, help="the split's seed")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"which runs ({', '.join(ARMS)})")
    args = parser.parse_args()
    arms = args.arms.split(",")
    split = [f"data.root={args.data.resolve()}", "data.split=random", f"data.split_fractions=[{args.fractions}]",
             f"data.split_seed={args.seed}", f"trainer.max_epochs={args.epochs}"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {"BENTOML_HOME": str(work / "bentoml"), "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
               "PYTHONPATH": str(REPO / "src")}
        if "finetune" in arms:
            run("training.import_keras", str(args.weights), cwd=work, env=env)
        if "finetune_musicnn" in arms:
            subprocess.run(["bash", str(REPO / "scripts" / "download_musicnn.sh"), str(args.musicnn)], check=True)
            run("training.import_musicnn", str(args.musicnn), cwd=work, env=env)
        minutes = {arm: run("training", *ARMS[arm], *split, cwd=work, env=env) for arm in arms}
        client = MlflowClient(env["MLFLOW_TRACKING_URI"])
        experiment = client.get_experiment_by_name("genre-classification")
        runs = {r.data.tags["mlflow.runName"].split()[0]: r for r in client.search_runs([experiment.experiment_id])}
        params = {"data": args.data.name, "split": f"random {args.fractions} seed {args.seed}", "epochs": args.epochs}
        names = {"finetune": "keras fine-tuned", "crnn": "crnn from scratch", "finetune_musicnn": "musicnn + head"}
        figures = {names[arm]: (runs[arm].data.metrics, "", minutes[arm]) for arm in arms}
        if "finetune" in arms:
            figures["keras as imported"] = (runs["finetune"].data.metrics, "start_", 0.0)
        for model, (metrics, prefix, spent) in figures.items():
            emit("finetune", f"{model}: test clip accuracy", metrics[f"{prefix}test_clip_acc"], "fraction", **params)
            emit("finetune", f"{model}: test macro-F1", metrics[f"{prefix}test_macro_f1"], "fraction", **params)
            if spent:
                emit("finetune", f"{model}: run time", spent, "minutes", **params)


if __name__ == "__main__":
    main()
