"""`python -m training` end to end, as users run it, against real MLflow stores."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from conftest import run_module, run_training


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
    # the keys a user overrides, each value once: no copy under data.spectrogram or model.network.n_mels
    assert params["features.spectrogram.log"] == "db" and "data.spectrogram.log" not in params
    assert "model.network.n_mels" not in params and "logger.tracking_uri" not in params
    # where things are is a tag: the checkpoint folder (which resume finds the run by), the cache
    assert "callbacks.model_checkpoint.dirpath" not in params and "data.cache_dir" not in params
    assert tags["callbacks.model_checkpoint.dirpath"].endswith("/checkpoints") and tags["data.cache_dir"] == "cache/features"
    assert not [m for m in metrics if m.startswith("lr-")]  # no scheduler: no flat learning-rate charts
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


def _one_error_line(done) -> str:
    """The command failed with one `error:` line, its last on stderr, and no traceback."""
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and done.stderr.splitlines()[-1] == errors[0], done.stderr[-3000:]
    return errors[0]


@pytest.mark.parametrize("args,expected", [
    (["experiment=crnn", "data.root=/nonexistent"], "error: no data set under /nonexistent: expected one sub-folder per label"),
    (["experiment=smoke", "resume=true"], "error: resume=true: no unfinished run with a last.ckpt in MLflow experiment 'genre-classification'"),
    (["trainer.max_epoch=3"], "error: unknown setting 'trainer.max_epoch' (did you mean trainer.max_epochs?)"),
    (["+trainer.max_epoch=3"], "error: unknown setting 'trainer.max_epoch' (did you mean trainer.max_epochs or "),
    (["experiment=smok"], "error: no experiment 'smok' (did you mean smoke?)"),
])
def test_a_users_mistake_is_one_line_and_starts_no_run(args, expected, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = run_module("training", *args, cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri}, check=False)
    assert _one_error_line(done).startswith(expected)
    experiment = MlflowClient(uri).get_experiment_by_name("genre-classification")
    assert experiment is None or not MlflowClient(uri).search_runs([experiment.experiment_id])


def test_packaging_without_a_finished_run_is_one_line(tmp_path):
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "BENTOML_HOME": str(tmp_path / "home")}
    done = run_module("training.package", cwd=tmp_path, env=env, check=False)
    assert _one_error_line(done).startswith("error: nothing packaged: no MLflow experiment 'genre-classification'")


def test_a_run_that_dies_after_starting_is_failed_in_mlflow(synthetic_root, tmp_path):
    """Not RUNNING forever: FAILED, with the error as a tag. The Trainer's refusal is Hydra's
    one-line report; an error inside fit is unexpected and keeps its traceback."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    data = ["experiment=smoke", f"data.root={synthetic_root}", "data.synthetic=null",
            f"data.cache_dir={tmp_path / 'cache'}", "data.num_workers=0", "trainer.max_epochs=1"]
    refused = run_module("training", *data, "+trainer.precision=bogus", cwd=tmp_path,
                         env={"MLFLOW_TRACKING_URI": uri}, check=False)
    assert "Precision 'bogus' is invalid" in _one_error_line(refused)
    crashed = run_module("training", *data, "data.batch_size=0", cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri}, check=False)
    assert crashed.returncode == 1 and "Traceback" in crashed.stderr and "batch_size=0" in crashed.stderr
    _, runs = _runs(uri)
    assert [run.info.status for run in runs] == ["FAILED", "FAILED"]
    assert "Precision 'bogus' is invalid" in runs[0].data.tags["error"]
    assert runs[1].data.tags["error"].startswith("ValueError: ") and "batch_size=0" in runs[1].data.tags["error"]
