"""`python -m training` end to end, as users run it, against real MLflow stores."""

import os
import signal
import subprocess
import sys
import time

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


def test_sweep_gives_one_run_per_job_and_same_seed_same_metrics(smoke_workdir, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_training(
        tmp_path, "-m", "experiment=smoke", "seed=7,7", "trainer.max_epochs=2", "data.windows_per_clip=2",
        f"data.root={smoke_workdir / 'data' / 'synthetic'}", f"data.cache_dir={smoke_workdir / 'cache' / 'features'}",
        env={"MLFLOW_TRACKING_URI": uri},
    )
    _, runs = _runs(uri)
    assert len(runs) == 2
    first, second = (r.data.metrics for r in runs)
    for name in ("test_clip_acc", "test_window_acc", "test_macro_f1", "test_loss"):
        assert first[name] == second[name]


def test_faithful_crnn_runs_on_a_gtzan_layout_folder(synthetic_root, tmp_path):
    """The full-size CRNN on 29.12 s windows, a few batches, through the filtered split."""
    done = run_training(
        tmp_path, "experiment=crnn", f"data.root={synthetic_root}", "trainer.max_epochs=1",
        "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "trainer.limit_test_batches=1",
        "data.batch_size=2", "data.eval_clips_per_batch=2",
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    )
    assert "test_clip_acc" in done.stdout
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
