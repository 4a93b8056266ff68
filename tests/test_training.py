"""`python -m training` end to end, as users run it, against real MLflow stores."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from conftest import run_training


def _runs(tracking_uri: str):
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("genre-classification")
    return client, client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])


def test_smoke_run_reaches_90_percent_and_is_fully_tracked(smoke_workdir):
    client, runs = _runs(f"sqlite:///{smoke_workdir / 'mlflow.db'}")
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    metrics, params, tags = run.data.metrics, run.data.params, run.data.tags
    assert metrics["test_clip_acc"] >= 0.9
    assert {"test_window_acc", "test_macro_f1", "test_acc_jazz"} <= set(metrics)
    assert params["model.network.name"] == "crnn" and params["data.split"] == "random"
    assert params["features.spectrogram.n_mels"] == "64" and params["features.windows.seconds"] == "3.0"
    assert len(tags["git_commit"]) == 40 and tags["split"] == "random" and len(tags["feature_hash"]) == 12
    epochs = client.get_metric_history(run.info.run_id, "val_clip_acc")
    assert len(epochs) == int(params["trainer.max_epochs"])
    assert len(client.get_metric_history(run.info.run_id, "train_loss")) == len(epochs)
    artifacts = {a.path for d in ("test", "checkpoints") for a in client.list_artifacts(run.info.run_id, d)}
    assert "test/confusion_matrix.png" in artifacts and "test/class_report.txt" in artifacts
    assert run.info.run_name == "smoke"
    assert any(a.startswith("checkpoints/best-epoch") for a in artifacts)
    png = client.download_artifacts(run.info.run_id, "test/confusion_matrix.png", str(smoke_workdir))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_interrupted_run_resumes_in_the_same_mlflow_run(smoke_workdir, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = [
        "experiment=smoke", "trainer.max_epochs=5", "data.windows_per_clip=4",
        f"data.root={smoke_workdir / 'data' / 'synthetic'}", f"data.cache_dir={smoke_workdir / 'cache' / 'features'}",
    ]
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    proc = subprocess.Popen(
        [sys.executable, "-m", "training", *args, f"hydra.run.dir={tmp_path / 'first'}"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)  # let the checkpoint be written whole, then kill in the middle of the next epoch
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    client, runs = _runs(uri)
    assert len(runs) == 1 and runs[0].info.status == "RUNNING"
    done_before = len(client.get_metric_history(runs[0].info.run_id, "val_clip_acc"))
    assert 1 <= done_before < 5, "the run was not interrupted midway"

    run_training(tmp_path, *args, "resume=true", f"hydra.run.dir={tmp_path / 'second'}", env={"MLFLOW_TRACKING_URI": uri})
    client, runs = _runs(uri)
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    history = client.get_metric_history(runs[0].info.run_id, "val_clip_acc")
    assert len(history) == 5
    assert len({m.step for m in history}) == 5
    assert "test_clip_acc" in runs[0].data.metrics


def test_a_sweep_compares_in_mlflow_and_the_same_seed_gives_the_same_metrics(smoke_workdir, tmp_path):
    """What `mlflow ui` shows, read through MLflow's own client: a training experiment, runs named
    by their overrides, the data each used, the best epoch's validation report."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    data = smoke_workdir / "data" / "synthetic"
    run_training(
        tmp_path, "-m", "experiment=smoke", "seed=7,8,7", "trainer.max_epochs=2", "data.windows_per_clip=2",
        f"data.root={data}", f"data.cache_dir={smoke_workdir / 'cache' / 'features'}",
        env={"MLFLOW_TRACKING_URI": uri},
    )
    client, runs = _runs(uri)
    experiment = client.get_experiment_by_name("genre-classification")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    names = [r.info.run_name for r in runs]
    assert names == [f"smoke seed={s} max_epochs=2 windows_per_clip=2" for s in (7, 8, 7)]
    first, other, again = (r.data.metrics for r in runs)
    for name in ("test_clip_acc", "test_window_acc", "test_macro_f1", "test_loss"):
        assert first[name] == again[name]
    assert first["test_loss"] != other["test_loss"]
    for run in runs:
        inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
        assert set(inputs) == {"synthetic/train", "synthetic/valid", "synthetic/test"}
        test = inputs["synthetic/test"]
        assert test.dataset.digest == run.data.tags["feature_hash"] and str(data) in test.dataset.source
        assert json.loads(test.dataset.profile) == {"clips": 30, "split": "random", "part": "test"}
        assert [t.value for t in test.tags if t.key == "mlflow.data.context"] == ["test"]
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "valid")}
        assert {"valid/confusion_matrix.png", "valid/class_report.json"} <= artifacts
        confusion = json.loads(open(client.download_artifacts(run.info.run_id, "valid/confusion_matrix.json", str(tmp_path))).read())
        assert sum(map(sum, confusion)) == 30  # every validation clip once
        correct = sum(confusion[i][i] for i in range(len(confusion)))
        assert correct / 30 == pytest.approx(run.data.metrics["best_val_clip_acc"])  # the best epoch's answers


def test_faithful_crnn_runs_on_a_gtzan_layout_folder(synthetic_root, tmp_path):
    """The full-size CRNN on 29.12 s windows, a few batches, through the filtered split."""
    done = run_training(
        tmp_path, "experiment=crnn", f"data.root={synthetic_root}", "trainer.max_epochs=1",
        "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "trainer.limit_test_batches=1",
        "data.batch_size=2", "data.eval_clips_per_batch=2",
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    )
    assert "test_clip_acc" in done.stdout
    assert "#/experiments/1/runs?workflowType=machine_learning" in done.stdout  # opens on the training runs
    _, runs = _runs(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert runs[0].data.params["model.network.channels"] == "[64, 128, 128, 128]"
    assert runs[0].data.tags["split"] == "filtered"


def test_evaluate_reprints_the_test_metrics(smoke_workdir):
    client, runs = _runs(f"sqlite:///{smoke_workdir / 'mlflow.db'}")
    done = subprocess.run(
        [sys.executable, "-m", "training.evaluate", "--run-id", runs[0].info.run_id],
        cwd=smoke_workdir, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(l for l in done.stdout.splitlines() if "test_clip_acc" in l)
    assert f"{runs[0].data.metrics['test_clip_acc']:.4f}" in line
