"""MLflow bookkeeping around a training run: which run to continue, what it is called, what to
record (params, tags, the data it used, reports, the best checkpoint), so runs compare at a
glance in `mlflow ui`."""

from __future__ import annotations

import json
import re
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import mlflow
import torch
from lightning.pytorch.loggers import MLFlowLogger
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import DatasetInput, InputTag
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import MAX_TAG_VAL_LENGTH
from omegaconf import DictConfig, OmegaConf

from data.datamodule import FolderDataModule
from training.config import flatten
from training.results import class_report, confusion_figure

# The checkpoint folder, under its setting's key (a path, so a tag): resume=true finds runs by it.
CHECKPOINT_DIR_TAG = "callbacks.model_checkpoint.dirpath"
# An interpolation that only copies another key's value (`${features.spectrogram}`), no resolver.
REFERENCE = re.compile(r"\$\{[^${}:]+\}")
BEST_CHECKPOINT_TAG = "best_checkpoint"  # the artifact path of the best checkpoint
ERROR_TAG = "error"  # why a FAILED run failed
# MLflow opens an experiment with this tag on its training runs, not on its GenAI pages.
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
# The MLflow context each split is used in, as the runs table's Datasets column shows it.
SPLIT_CONTEXTS = {"train": "training", "valid": "validation", "test": "test"}


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
    runs = client.search_runs([experiment.experiment_id], filter_string=f"tags.`{CHECKPOINT_DIR_TAG}` = '{folder}'")
    return runs[0].info.run_id if runs else None


def run_name(base: str, overrides: list[str], ignored: list[str]) -> str:
    """The experiment's name plus the command line's overrides, e.g. "smoke lr=3e-3 seed=1": runs
    told apart at a glance, every job of a sweep named differently. A key is shortened to its
    last part unless two overrides share it; overrides of `ignored` keys (where the data lives,
    how it is read) are left out."""
    pairs = [o.lstrip("+~").split("=", 1) for o in overrides if "=" in o]
    pairs = [(key, value) for key, value in pairs if not any(fnmatch(key, pattern) for pattern in ignored)]
    last = [key.rsplit(".", 1)[-1] for key, _ in pairs]
    words = [f"{short if last.count(short) == 1 else key}={value}" for (key, value), short in zip(pairs, last)]
    return " ".join([base, *words])


def settings(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, str]]:
    """The resolved config as (params, tags), under the keys a command line overrides. A key that
    only copies another (`data.spectrogram: ${features.spectrogram}`) is left out: its source
    holds the value. Where things are on this machine (`tracking.path_keys`: the checkpoint
    folder, the cache, the store) differs on every run, so it is a tag, not a param to compare."""
    raw = flatten(OmegaConf.to_container(cfg, resolve=False))
    copies = tuple(f"{key}." for key, value in raw.items() if isinstance(value, str) and REFERENCE.fullmatch(value))
    resolved = {key: value for key, value in flatten(OmegaConf.to_container(cfg, resolve=True)).items()
                if not f"{key}.".startswith(copies)}
    paths = {key for key in resolved if any(fnmatch(key, pattern) for pattern in cfg.tracking.path_keys)}
    return ({key: value for key, value in resolved.items() if key not in paths},
            {key: str(resolved[key]) for key in paths})


def record_new_run(logger: MLFlowLogger, cfg: DictConfig, data: FolderDataModule, checkpoint_dir: Path) -> None:
    """What a new run starts with: its settings as params and path tags (`settings`); commit,
    split, spectrogram digest, data folder, network and checkpoint folder as tags (resume finds
    runs by the last); the data of each split as an MLflow dataset input."""
    params, path_tags = settings(cfg)
    logger.log_hyperparams(params)
    log_data_inputs(logger.experiment, logger.run_id, data)
    tags = {
        **path_tags,
        "git_commit": git_commit(),
        "split": data.split_name,
        "feature_hash": data.spectrogram.digest(),
        "data_root": str(Path(data.root).resolve()),
        "network": cfg.model.network.name,
        CHECKPOINT_DIR_TAG: str(checkpoint_dir),
    }
    for key, value in tags.items():
        logger.experiment.set_tag(logger.run_id, key, value)


@contextmanager
def failed_on_error(client: MlflowClient, run_id: str | None) -> Iterator[None]:
    """A run that dies of an exception ends FAILED, its error in the tag `error`, instead of
    showing RUNNING forever (a killed process still does). `resume=true` continues either."""
    try:
        yield
    except Exception as exc:
        if run_id is not None:
            client.set_tag(run_id, ERROR_TAG, f"{type(exc).__name__}: {exc}"[:MAX_TAG_VAL_LENGTH])
            client.set_terminated(run_id, "FAILED")
        raise


def log_start(client: MlflowClient, run_id: str, source: str, head_kept: bool, before: dict[str, float]) -> None:
    """Where a fine-tuning run started from (tags `init_from`, `init_head`: kept or new) and the
    starting model's own test metrics, as `start_<metric>` (the same split, before any training)."""
    client.set_tag(run_id, "init_from", source)
    client.set_tag(run_id, "init_head", "kept" if head_kept else "new")
    for name, value in before.items():
        client.log_metric(run_id, f"start_{name}", float(value))


def mark_training_experiment(client: MlflowClient, experiment_id: str) -> None:
    """Tag the experiment as model training (on every run, so older experiments get it too)."""
    client.set_experiment_tag(experiment_id, *EXPERIMENT_KIND)


class SplitDataset(MetaDataset):
    """One split of a data set folder as MLflow sees a data set: a name, the folder, the
    spectrogram digest (the feature cache's name) and a profile with the clip count."""

    def __init__(self, root: Path, split: str, split_name: str, clips: int, digest: str):
        with warnings.catch_warnings():  # MLflow registers the local-file source twice and says so
            warnings.simplefilter("ignore", UserWarning)
            source = resolve_dataset_source(root.resolve().as_uri())
        super().__init__(source, name=f"{root.name}/{split}", digest=digest)
        self.clip_profile = {"clips": clips, "split": split_name, "part": split}

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "profile": json.dumps(self.clip_profile)}


def log_data_inputs(client: MlflowClient, run_id: str, data: FolderDataModule) -> None:
    """The train, valid and test clips of the run's split as dataset inputs: the runs table's
    Datasets column then says which data, split and features each run used."""
    digest = data.spectrogram.digest()
    inputs = [
        DatasetInput(SplitDataset(data.root, split, data.split_name, len(clips), digest)._to_mlflow_entity(),
                     [InputTag("mlflow.data.context", SPLIT_CONTEXTS[split])])
        for split, clips in data.split_clips().items()
    ]
    client.log_inputs(run_id, datasets=inputs)


def log_report(client: MlflowClient, run_id: str, split: str, confusion: torch.Tensor, labels: list[str]) -> None:
    """A split's confusion matrix (PNG and JSON) and per-class report (JSON and text) under `split/`."""
    figure = confusion_figure(confusion, labels, f"{split} clips")
    client.log_figure(run_id, figure, f"{split}/confusion_matrix.png")
    plt.close(figure)
    report = class_report(confusion, labels)
    client.log_dict(run_id, report, f"{split}/class_report.json")
    lines = [f"{'genre':<10} {'clips':>5} {'precision':>9} {'recall':>7} {'f1':>6}"]
    lines += [f"{g:<10} {r['clips']:>5} {r['precision']:>9.3f} {r['recall']:>7.3f} {r['f1']:>6.3f}" for g, r in report.items()]
    client.log_text(run_id, "\n".join(lines) + "\n", f"{split}/class_report.txt")
    client.log_dict(run_id, confusion.tolist(), f"{split}/confusion_matrix.json")


def log_best_checkpoint(client: MlflowClient, run_id: str, best_checkpoint: Path) -> None:
    """The best checkpoint as an artifact, and a tag saying where (packaging finds it there)."""
    client.log_artifact(run_id, str(best_checkpoint), "checkpoints")
    client.set_tag(run_id, BEST_CHECKPOINT_TAG, f"checkpoints/{best_checkpoint.name}")


def download_best_checkpoint(client: MlflowClient, run_id: str, into: Path) -> Path:
    """The best checkpoint a training run logged (`log_best_checkpoint`), downloaded into `into`."""
    artifact = client.get_run(run_id).data.tags.get(BEST_CHECKPOINT_TAG)
    if not artifact:
        raise FileNotFoundError(f"run {run_id} logged no best checkpoint (did it finish its test?)")
    return Path(client.download_artifacts(run_id, artifact, str(into)))


def set_tracking(uri: str) -> MlflowClient:
    mlflow.set_tracking_uri(uri)
    return MlflowClient(uri)
