"""Package the best finished MLflow run into the BentoML model store (and the MLflow registry).

    python -m training.package [--run-id ID] [--metric METRIC] [--name NAME]

Picks the finished run with the highest `--metric` (default `tracking.ranking_metric` of
conf/tracking.yaml: the best validation clip accuracy), checks that its best checkpoint loads, and saves a BentoML model holding the weights,
network config, feature config, labels, the run's metrics and its run id. Nothing is written
when no run qualifies, the checkpoint does not load, or the model already served scored better
(`--force` overrides the last). It also runs the run's test split in fp32 and bf16 and keeps
the comparison in the model, where `precision: auto` reads it (model.precision). Honours
MLFLOW_TRACKING_URI and BENTOML_HOME.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import bentoml
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from data.datamodule import FolderDataModule
from model.artifact import ModelArtifact
from model.precision import CHECK_KEY, check_bf16, describe_check
from training.config import compose_config
from training.tracking import BEST_CHECKPOINT_TAG, download_best_checkpoint


class PackagingError(RuntimeError):
    """Why nothing was packaged."""


TRAIN_FIRST = "train a model first (python -m training experiment=smoke), or name the store with MLFLOW_TRACKING_URI"


def choose_run(client: MlflowClient, experiment: str, metric: str, run_id: str | None) -> Run:
    if run_id:
        try:
            run = client.get_run(run_id)
        except MlflowException as exc:
            raise PackagingError(f"no MLflow run {run_id}: {exc.message}") from None
        if run.info.status != "FINISHED":
            raise PackagingError(f"run {run_id} is {run.info.status}, not FINISHED")
        return run
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise PackagingError(f"no MLflow experiment {experiment!r} at {client.tracking_uri}: {TRAIN_FIRST}")
    runs = [
        run for run in client.search_runs(
            [found.experiment_id], filter_string="attributes.status = 'FINISHED'",
            order_by=[f"metrics.`{metric}` DESC"],
        )
        if metric in run.data.metrics and BEST_CHECKPOINT_TAG in run.data.tags
    ]
    if not runs:
        raise PackagingError(f"no finished run in {experiment!r} has the metric {metric!r} and a best checkpoint: {TRAIN_FIRST}")
    return runs[0]


def latest_model(name: str) -> bentoml.Model | None:
    try:
        return bentoml.models.get(f"{name}:latest")
    except bentoml.exceptions.NotFound:
        return None


def package(
    client: MlflowClient, experiment: str, metric: str, run_id: str | None, name: str, force: bool, check_precision: bool,
) -> bentoml.Model:
    run = choose_run(client, experiment, metric, run_id)
    metrics = dict(run.data.metrics)
    served = latest_model(name)
    if served is not None and not force:
        if served.info.metadata.get("mlflow_run_id") == run.info.run_id:
            return served
        served_score = served.info.metadata.get("metrics", {}).get(metric)
        if served_score is not None and metrics.get(metric, float("-inf")) < served_score:
            raise PackagingError(
                f"run {run.info.run_id} has {metric}={metrics.get(metric)}, worse than the served "
                f"{served.tag} ({served_score:.4f}); pass --force to package it anyway"
            )
    with tempfile.TemporaryDirectory() as tmp:
        try:
            checkpoint = download_best_checkpoint(client, run.info.run_id, Path(tmp))
        except FileNotFoundError as exc:
            raise PackagingError(str(exc)) from None
        try:
            artifact = ModelArtifact.from_checkpoint(checkpoint, info={
                "metrics": metrics, "mlflow_run_id": run.info.run_id,
                "tracking_uri": client.tracking_uri, "git_commit": run.data.tags.get("git_commit"),
            })
        except Exception as exc:  # any unreadable checkpoint: say why, touch nothing
            raise PackagingError(f"the checkpoint of run {run.info.run_id} does not load: {exc}") from None
        artifact.info[CHECK_KEY] = (check_bf16_on_test_split(artifact, checkpoint) if check_precision
                                    else {"skipped": "packaged with --no-bf16-check"})
    with bentoml.models.create(
        name,
        labels={"source": "mlflow", "mlflow_run_id": run.info.run_id, "network": artifact.network_config["name"]},
        # The full network and feature configs live in the model's model.json.
        metadata={"metrics": metrics, "mlflow_run_id": run.info.run_id, "labels": artifact.labels,
                  "feature_hash": artifact.spectrogram.digest()},
    ) as model:
        artifact.save(model.path)
    register(client, run, name, str(model.tag))
    return bentoml.models.get(model.tag)


def check_bf16_on_test_split(artifact: ModelArtifact, checkpoint: Path) -> dict:
    """model.precision's bf16 check on the run's own test split, rebuilt from the data
    settings its checkpoint carries; a note saying why where that data is not here."""
    data = FolderDataModule.load_from_checkpoint(checkpoint, weights_only=True)
    try:
        clips = data.split_clips()["test"]
    except (FileNotFoundError, ValueError) as exc:
        print(f"bf16 not checked: {exc}", file=sys.stderr)
        return {"skipped": str(exc)}
    return check_bf16(artifact, clips, f"{data.split_name} test")


def register(client: MlflowClient, run: Run, name: str, bento_tag: str) -> None:
    """A model-registry version pointing at the run's checkpoints, tagged with the BentoML tag."""
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="Genre CRNN checkpoints packaged for BentoML")
    version = client.create_model_version(
        name, source=f"{run.info.artifact_uri}/checkpoints", run_id=run.info.run_id,
        tags={"bentoml_tag": bento_tag},
    )
    client.set_model_version_tag(name, version.version, "bentoml_tag", bento_tag)


def main(argv: list[str] | None = None) -> None:
    tracking = compose_config().tracking
    parser = argparse.ArgumentParser(prog="python -m training.package", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-id", help="package this run instead of the best one")
    parser.add_argument("--metric", default=tracking.ranking_metric,
                        help=f"rank runs by this metric, highest first (default {tracking.ranking_metric})")
    parser.add_argument("--experiment", default=tracking.experiment, help=f"MLflow experiment (default {tracking.experiment})")
    parser.add_argument("--name", default=tracking.model_name, help=f"BentoML model name (default {tracking.model_name})")
    parser.add_argument("--force", action="store_true", help="package even if the served model scored better")
    parser.add_argument("--no-bf16-check", action="store_true",
                        help="skip the fp32/bf16 comparison on the run's test split (then precision auto serves fp32)")
    parser.add_argument("--tracking-uri", default=tracking.uri, help=f"MLflow store (default {tracking.uri})")
    args = parser.parse_args(argv)
    try:
        model = package(MlflowClient(args.tracking_uri), args.experiment, args.metric, args.run_id, args.name, args.force,
                        not args.no_bf16_check)
    except PackagingError as exc:
        sys.exit(f"error: nothing packaged: {exc}")
    info = model.info.metadata
    score = info["metrics"].get(args.metric)
    print(f"{model.tag} holds MLflow run {info['mlflow_run_id']}"
          + (f" ({args.metric}={score:.4f})" if score is not None else "")
          + f"; model store: {model.path}")
    print(describe_check(ModelArtifact.load(model.path).info.get(CHECK_KEY)))  # the check lives in model.json


if __name__ == "__main__":
    main()
