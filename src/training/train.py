"""One training run from a resolved Hydra config: fit, keep the best epoch, test it, track it all.

Every run is one MLflow run: flattened config as params; git commit, split, feature hash and
checkpoint folder as tags; per-epoch metrics; test metrics, confusion matrix, class report and
the best checkpoint at the end. `resume=true` continues the newest unfinished run in place.
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import MLFlowLogger
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from data.datamodule import GTZANDataModule
from training.module import GenreClassifier
from training.tracking import (
    CHECKPOINT_DIR_TAG,
    find_resumable_run,
    flatten,
    git_commit,
    log_test_report,
    run_id_of_checkpoint,
    set_tracking,
)

log = logging.getLogger(__name__)
HEADLINE = ("test_clip_acc", "test_segment_acc", "test_macro_f1")


def resume_point(cfg: DictConfig, client: MlflowClient) -> tuple[str | None, Path | None]:
    """(MLflow run id, checkpoint) to continue from, or (None, None) for a fresh run."""
    if cfg.resume in (False, None, "false"):
        return None, None
    if cfg.resume is True or cfg.resume == "true":
        return find_resumable_run(client, cfg.logger.experiment_name)
    checkpoint = Path(cfg.resume)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"resume={cfg.resume}: no such checkpoint")
    return run_id_of_checkpoint(client, cfg.logger.experiment_name, checkpoint), checkpoint


def train(cfg: DictConfig) -> float:
    """Fit and test one configuration; returns the best validation clip accuracy (for sweeps)."""
    L.seed_everything(cfg.seed, workers=True)
    client = set_tracking(cfg.logger.tracking_uri)
    run_id, resume_from = resume_point(cfg, client)

    datamodule: GTZANDataModule = instantiate(cfg.data, _convert_="all")
    model: GenreClassifier = instantiate(
        cfg.model, labels=datamodule.labels, features=datamodule.features.to_dict(),
        _recursive_=False, _convert_="all",
    )
    if resume_from is not None:
        checkpoint_dir = resume_from.resolve().parent
        log.info("resuming MLflow run %s from %s", run_id, resume_from)
    else:
        checkpoint_dir = Path(HydraConfig.get().runtime.output_dir).resolve() / "checkpoints"

    logger = MLFlowLogger(
        experiment_name=cfg.logger.experiment_name,
        tracking_uri=cfg.logger.tracking_uri,
        run_name=cfg.run_name,
        run_id=run_id,
    )
    if run_id is None:
        logger.log_hyperparams(flatten(OmegaConf.to_container(cfg, resolve=True)))
        tags = {
            "git_commit": git_commit(),
            "split": datamodule.split_name,
            "feature_hash": datamodule.features.digest(),
            "data_root": str(Path(datamodule.root).resolve()),
            "network": cfg.model.network.name,
            CHECKPOINT_DIR_TAG: str(checkpoint_dir),
        }
        for key, value in tags.items():
            client.set_tag(logger.run_id, key, value)

    checkpoint = ModelCheckpoint(
        dirpath=checkpoint_dir, filename="best-epoch{epoch:03d}", auto_insert_metric_name=False,
        monitor=cfg.callbacks.checkpoint.monitor, mode=cfg.callbacks.checkpoint.mode,
        save_top_k=1, save_last=True,
    )
    callbacks = [checkpoint, LearningRateMonitor(logging_interval="epoch")]
    if cfg.callbacks.early_stopping_patience:
        callbacks.append(EarlyStopping(
            monitor=cfg.callbacks.checkpoint.monitor, mode=cfg.callbacks.checkpoint.mode,
            patience=cfg.callbacks.early_stopping_patience,
        ))
    trainer: L.Trainer = instantiate(cfg.trainer, logger=logger, callbacks=callbacks)
    trainer.fit(model, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)

    best = Path(checkpoint.best_model_path)
    best_score = float(checkpoint.best_model_score or 0.0)
    if trainer.is_global_zero:  # what `python -m training.package` ranks runs by
        client.log_metric(logger.run_id, f"best_{cfg.callbacks.checkpoint.monitor}", best_score)
    if cfg.test:
        results = trainer.test(model, datamodule=datamodule, ckpt_path=best, weights_only=True, verbose=False)[0]
        if trainer.is_global_zero:
            log_test_report(client, logger.run_id, model.test_confusion, model.labels, best)
            print_results(
                results, "Test metrics (best epoch)",
                f"split {datamodule.split_name!r} {datamodule.split_sizes()}; MLflow run {logger.run_id}",
            )
    return best_score


def print_results(results: dict[str, float], title: str, caption: str) -> None:
    """The headline metrics, then per-class accuracy, as a table on the terminal."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name in HEADLINE:
        table.add_row(name, f"{results[name]:.4f}")
    for name, value in sorted(results.items()):
        if name.startswith("test_acc_"):
            table.add_row(name, f"{value:.4f}")
    console = Console()
    console.print(table)
    console.print(caption)
