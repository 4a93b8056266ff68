"""One training run from a resolved Hydra config: fit, keep the best epoch, test it, track it all.

Everything is instantiated from `conf/` (data, model, trainer, logger, callbacks); the MLflow
bookkeeping is `training.tracking`'s: a run is named by its experiment and overrides, records the
data it used, and ends with the best epoch's validation report, the test report and the best
checkpoint. `resume=true` continues the newest unfinished run in place. `init_from=` starts from
a trained model (`training.finetune`); a run that keeps its head first tests it as it started.
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, open_dict

from data.datamodule import FolderDataModule
from training.errors import check_arguments, users_errors
from training.finetune import adopt_settings, load_starting_model, load_weights
from training.module import GenreClassifier
from training.results import print_results
from training.tracking import (
    failed_on_error,
    log_best_checkpoint,
    log_report,
    log_start,
    mark_training_experiment,
    record_new_run,
    resume_point,
    run_name,
    set_tracking,
)

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> float:
    """Fit and test one configuration; returns the best value of the checkpoint's monitor (for sweeps)."""
    check_arguments(cfg)
    # These steps read what the user named (a run to resume, a starting model, the data folder and
    # its split): what they find missing or wrong ends the command in one line, before any run starts.
    with users_errors(FileNotFoundError, ValueError):
        client = set_tracking(cfg.tracking.uri)
        run_id, resume_from = resume_point(cfg, client)
        start = load_starting_model(str(cfg.init_from)) if cfg.init_from else None
        if start is not None:
            adopt_settings(cfg, start)
        datamodule: FolderDataModule = instantiate(cfg.data, _convert_="all")
        datamodule.split_clips()
    L.seed_everything(cfg.seed, workers=True)
    if resume_from is not None:
        log.info("resuming MLflow run %s from %s", run_id, resume_from)
        with open_dict(cfg):
            cfg.callbacks.model_checkpoint.dirpath = str(resume_from.resolve().parent)
    model = GenreClassifier.from_config(cfg, datamodule.labels)
    head_kept = load_weights(model.network, start, model.labels) if start is not None and resume_from is None else None
    name = run_name(cfg.run_name, list(HydraConfig.get().overrides.task), list(cfg.tracking.name_ignores))
    logger = instantiate(cfg.logger, run_id=run_id, run_name=name)
    # The MLflow run starts here (on rank 0; under DDP the other ranks' loggers hold no experiment).
    with failed_on_error(client, logger.run_id if rank_zero_only.rank == 0 else None):
        if rank_zero_only.rank == 0:
            mark_training_experiment(client, logger.experiment_id)
        callbacks = make_callbacks(cfg)
        checkpoint: ModelCheckpoint = callbacks["model_checkpoint"]
        if run_id is None and rank_zero_only.rank == 0:  # one process records, under DDP too
            datamodule.prepare_data()  # data generated and cached before the run records which it used
            record_new_run(logger, cfg, datamodule, Path(checkpoint.dirpath))
        trainer: L.Trainer = instantiate(cfg.trainer, logger=logger, callbacks=list(callbacks.values()))
        before: dict[str, float] = {}
        if head_kept is not None:
            # The starting model as it was, on the same test split: what fine-tuning changed.
            before = test_detached(trainer, model, datamodule) if head_kept and cfg.test else {}
            if trainer.is_global_zero:
                log_start(client, logger.run_id, start.source, head_kept, before)
        trainer.fit(model, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)

        best = Path(checkpoint.best_model_path)
        best_score = float(checkpoint.best_model_score or 0.0)
        if trainer.is_global_zero:  # what `python -m training.package` ranks runs by
            client.log_metric(logger.run_id, cfg.tracking.ranking_metric, best_score)
            log_best_checkpoint(client, logger.run_id, best)
        # The best epoch's validation confusion matrix: its weights validated once more, with the
        # logger detached so the per-epoch curves keep one point per epoch.
        loggers, trainer.loggers = trainer.loggers, []
        trainer.validate(model, datamodule=datamodule, ckpt_path=best, weights_only=True, verbose=False)
        trainer.loggers = loggers
        if trainer.is_global_zero:
            log_report(client, logger.run_id, "valid", model.confusion["val"], model.labels)
        if cfg.test:
            results = trainer.test(model, datamodule=datamodule, ckpt_path=best, weights_only=True, verbose=False)[0]
            if trainer.is_global_zero:
                log_report(client, logger.run_id, "test", model.confusion["test"], model.labels)
                print_results(
                    results, "Test metrics (best epoch)",
                    f"split {datamodule.split_name!r} {datamodule.split_sizes()}; MLflow run {logger.run_id}",
                )
                if before:
                    print(f"as it started ({start.source}): test_clip_acc {before['test_clip_acc']:.4f}, "
                          f"test_macro_f1 {before['test_macro_f1']:.4f}")
                # MLflow 3.17's UI opens experiments on its GenAI pages unless the link names the workflow.
                print(f"mlflow ui: http://127.0.0.1:5000/#/experiments/{logger.experiment_id}/runs?workflowType=machine_learning")
        return best_score


def make_callbacks(cfg: DictConfig) -> dict[str, Callback]:
    """The callbacks of `conf/callbacks/`, but the learning-rate monitor only where a scheduler
    changes the rate: without one its charts are flat lines, and the rate is a param
    (`model.optimizer.lr`)."""
    callbacks = {name: instantiate(spec) for name, spec in cfg.callbacks.items()}
    if cfg.model.scheduler:
        return callbacks
    return {name: callback for name, callback in callbacks.items() if not isinstance(callback, LearningRateMonitor)}


def test_detached(trainer: L.Trainer, model: GenreClassifier, datamodule: FolderDataModule) -> dict[str, float]:
    """Test metrics of `model` as it is, not logged to the run (its curves are the fit's)."""
    loggers, trainer.loggers = trainer.loggers, []
    results = trainer.test(model, datamodule=datamodule, verbose=False)[0]
    trainer.loggers = loggers
    return results
