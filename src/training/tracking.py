"""MLflow bookkeeping around a training run: which run to continue, what to record, artifacts."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import mlflow
import torch
from lightning.pytorch.loggers import MLFlowLogger
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from data.datamodule import GTZANDataModule
from training.results import class_report, confusion_figure

CHECKPOINT_DIR_TAG = "checkpoint_dir"
BEST_CHECKPOINT_TAG = "best_checkpoint"  # the artifact path of the best checkpoint


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}: the resolved config as MLflow params."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def resume_point(cfg: DictConfig, client: MlflowClient) -> tuple[str | None, Path | None]:
    """(MLflow run id, checkpoint) that `resume=` asks to continue, or (None, None) for a new run."""
    if cfg.resume in (False, None, "false"):
        return None, None
    if cfg.resume is True or cfg.resume == "true":
        return find_resumable_run(client, cfg.tracking.experiment)
    checkpoint = Path(cfg.resume)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"resume={cfg.resume}: no such checkpoint")
    return run_id_of_checkpoint(client, cfg.tracking.experiment, checkpoint), checkpoint


def find_resumable_run(client: MlflowClient, experiment_name: str) -> tuple[str, Path]:
    """The newest unfinished run of the experiment that left a `last.ckpt`: (run id, checkpoint)."""
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is not None:
        runs = client.search_runs(
            [experiment.experiment_id],
            filter_string="attributes.status != 'FINISHED'",
            order_by=["attributes.start_time DESC"],
        )
        for run in runs:
            checkpoint = Path(run.data.tags.get(CHECKPOINT_DIR_TAG, "/nonexistent")) / "last.ckpt"
            if checkpoint.is_file():
                return run.info.run_id, checkpoint
    raise FileNotFoundError(
        f"resume=true: no unfinished run with a last.ckpt in MLflow experiment {experiment_name!r}"
    )


def run_id_of_checkpoint(client: MlflowClient, experiment_name: str, checkpoint: Path) -> str | None:
    """The run that wrote `checkpoint` (matched by its checkpoint folder), if any."""
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return None
    folder = str(checkpoint.resolve().parent).replace("'", "\\'")
    runs = client.search_runs([experiment.experiment_id], filter_string=f"tags.{CHECKPOINT_DIR_TAG} = '{folder}'")
    return runs[0].info.run_id if runs else None


def record_new_run(logger: MLFlowLogger, cfg: DictConfig, data: GTZANDataModule, checkpoint_dir: Path) -> None:
    """What a new run starts with: the resolved config as params; commit, split, spectrogram
    digest, data folder, network and checkpoint folder as tags (resume finds runs by the last)."""
    logger.log_hyperparams(flatten(OmegaConf.to_container(cfg, resolve=True)))
    tags = {
        "git_commit": git_commit(),
        "split": data.split_name,
        "feature_hash": data.spectrogram.digest(),
        "data_root": str(Path(data.root).resolve()),
        "network": cfg.model.network.name,
        CHECKPOINT_DIR_TAG: str(checkpoint_dir),
    }
    for key, value in tags.items():
        logger.experiment.set_tag(logger.run_id, key, value)


def log_test_report(
    client: MlflowClient, run_id: str, confusion: torch.Tensor, labels: list[str], best_checkpoint: Path
) -> None:
    """Confusion-matrix PNG, per-class report (JSON and text) and the best checkpoint."""
    figure = confusion_figure(confusion, labels)
    client.log_figure(run_id, figure, "test/confusion_matrix.png")
    plt.close(figure)
    report = class_report(confusion, labels)
    client.log_dict(run_id, report, "test/class_report.json")
    lines = [f"{'genre':<10} {'clips':>5} {'precision':>9} {'recall':>7} {'f1':>6}"]
    lines += [f"{g:<10} {r['clips']:>5} {r['precision']:>9.3f} {r['recall']:>7.3f} {r['f1']:>6.3f}" for g, r in report.items()]
    client.log_text(run_id, "\n".join(lines) + "\n", "test/class_report.txt")
    client.log_dict(run_id, confusion.tolist(), "test/confusion_matrix.json")
    client.log_artifact(run_id, str(best_checkpoint), "checkpoints")
    client.set_tag(run_id, BEST_CHECKPOINT_TAG, f"checkpoints/{best_checkpoint.name}")


def download_best_checkpoint(client: MlflowClient, run_id: str, into: Path) -> Path:
    """The best checkpoint a training run logged (`log_test_report`), downloaded into `into`."""
    artifact = client.get_run(run_id).data.tags.get(BEST_CHECKPOINT_TAG)
    if not artifact:
        raise FileNotFoundError(f"run {run_id} logged no best checkpoint (did it finish its test?)")
    return Path(client.download_artifacts(run_id, artifact, str(into)))


def set_tracking(uri: str) -> MlflowClient:
    mlflow.set_tracking_uri(uri)
    return MlflowClient(uri)
