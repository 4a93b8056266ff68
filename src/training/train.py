"""One training run from a resolved Hydra config: fit, keep the best epoch, test it, track it all.

Everything is instantiated from `conf/` (data, model, trainer, logger, callbacks); the MLflow
bookkeeping is `training.tracking`'s. `resume=true` continues the newest unfinished run in place.
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, open_dict

from data.datamodule import GTZANDataModule
from training.module import GenreClassifier
from training.results import print_results
from training.tracking import log_test_report, record_new_run, resume_point, set_tracking

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> float:
    """Fit and test one configuration; returns the best value of the checkpoint's monitor (for sweeps)."""
    L.seed_everything(cfg.seed, workers=True)
    client = set_tracking(cfg.tracking.uri)
    run_id, resume_from = resume_point(cfg, client)
    if resume_from is not None:
        log.info("resuming MLflow run %s from %s", run_id, resume_from)
        with open_dict(cfg):
            cfg.callbacks.model_checkpoint.dirpath = str(resume_from.resolve().parent)

    datamodule: GTZANDataModule = instantiate(cfg.data, _convert_="all")
    model: GenreClassifier = instantiate(cfg.model, labels=datamodule.labels, _recursive_=False, _convert_="all")
    logger = instantiate(cfg.logger, run_id=run_id)
    callbacks = {name: instantiate(spec) for name, spec in cfg.callbacks.items()}
    checkpoint: ModelCheckpoint = callbacks["model_checkpoint"]
    if run_id is None:
        record_new_run(logger, cfg, datamodule, Path(checkpoint.dirpath))
    trainer: L.Trainer = instantiate(cfg.trainer, logger=logger, callbacks=list(callbacks.values()))
    trainer.fit(model, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)

    best = Path(checkpoint.best_model_path)
    best_score = float(checkpoint.best_model_score or 0.0)
    if trainer.is_global_zero:  # what `python -m training.package` ranks runs by
        client.log_metric(logger.run_id, cfg.tracking.ranking_metric, best_score)
    if cfg.test:
        results = trainer.test(model, datamodule=datamodule, ckpt_path=best, weights_only=True, verbose=False)[0]
        if trainer.is_global_zero:
            log_test_report(client, logger.run_id, model.test_confusion, model.labels, best)
            print_results(
                results, "Test metrics (best epoch)",
                f"split {datamodule.split_name!r} {datamodule.split_sizes()}; MLflow run {logger.run_id}",
            )
    return best_score
