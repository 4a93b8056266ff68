"""`python -m training.package` against real MLflow and BentoML stores."""

from pathlib import Path

import torch
from mlflow.tracking import MlflowClient

from conftest import run_module
from model.artifact import ModelArtifact
from model.precision import bf16_verified, resolve_precision
from training.package import check_bf16_on_test_split


def _models(home):
    models = sorted((home / "models").glob("genre-crnn/*/model.yaml")) if (home / "models").exists() else []
    return [m.parent.name for m in models]


def test_the_best_run_is_packaged_with_everything_it_needs(packaged, smoke_workdir, tmp_path):
    home = packaged["BENTOML_HOME"]
    versions = _models(Path(home))
    assert len(versions) == 1
    artifact = ModelArtifact.load(f"{home}/models/genre-crnn/{versions[0]}")
    client = MlflowClient(packaged["MLFLOW_TRACKING_URI"])
    run = client.search_runs([client.get_experiment_by_name("genre-classification").experiment_id])[0]
    assert artifact.info["mlflow_run_id"] == run.info.run_id
    assert artifact.info["metrics"]["test_clip_acc"] == run.data.metrics["test_clip_acc"]
    assert artifact.labels[5] == "jazz" and artifact.spectrogram.n_mels == 64 and artifact.windows.seconds == 3.0
    network = artifact.build_network()
    logits, embedding = network(torch.zeros(2, 1, 64, artifact.windows.frames(artifact.spectrogram)))
    assert logits.shape == (2, 10) and embedding.shape[0] == 2
    # bf16 against fp32 on the run's own test split (random split of the generated data: 3 per genre)
    check = artifact.info["bf16_check"]
    assert check["split"] == "random test" and check["clips"] == 30
    assert check["same_top_genre"] >= 27 and 0 < check["max_probability_difference"] < 0.1
    # the check cuts and averages each clip exactly as the run's test did (tests/test_model.py)
    assert check["fp32_accuracy"] == round(run.data.metrics["test_clip_acc"], 4)
    registered = client.search_model_versions("name='genre-crnn'")
    assert registered and registered[0].run_id == run.info.run_id
    assert registered[0].tags["bentoml_tag"].startswith("genre-crnn:")
    # the same run again: nothing new
    run_module("training.package", cwd=smoke_workdir, env=packaged)
    assert len(_models(Path(home))) == 1


def test_no_run_leaves_the_store_as_it_was(tmp_path):
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'empty.db'}", "BENTOML_HOME": str(tmp_path / "home")}
    done = run_module("training.package", cwd=tmp_path, env=env, check=False)
    assert done.returncode != 0 and "nothing packaged" in done.stderr and "no MLflow experiment" in done.stderr
    assert _models(tmp_path / "home") == []


def test_an_unreadable_checkpoint_is_refused(tmp_path):
    """A finished run whose best checkpoint is garbage: refused, store untouched."""
    uri = f"sqlite:///{tmp_path / 'broken.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("genre-classification", artifact_location=(tmp_path / "artifacts").as_uri())
    run = client.create_run(experiment)
    broken = tmp_path / "best-epoch001.ckpt"
    broken.write_bytes(b"not a checkpoint")
    client.log_artifact(run.info.run_id, str(broken), "checkpoints")
    client.set_tag(run.info.run_id, "best_checkpoint", "checkpoints/best-epoch001.ckpt")
    client.log_metric(run.info.run_id, "best_val_clip_acc", 0.5)
    client.set_terminated(run.info.run_id)
    env = {"MLFLOW_TRACKING_URI": uri, "BENTOML_HOME": str(tmp_path / "home")}
    done = run_module("training.package", cwd=tmp_path, env=env, check=False)
    assert done.returncode != 0 and "does not load" in done.stderr
    assert _models(tmp_path / "home") == []


def test_bentoml_build_makes_a_bento_with_the_model(packaged, tmp_path):
    done = run_module("bentoml", "build", cwd=Path(__file__).resolve().parents[1], env=packaged, timeout=300)
    assert "Successfully built Bento" in done.stdout + done.stderr
    bentos = list((Path(packaged["BENTOML_HOME"]) / "bentos" / "genre-recognition").glob("*/bento.yaml"))
    assert bentos and "genre-crnn:" in bentos[0].read_text()
    assert (bentos[0].parent / "src" / "conf" / "serving.yaml").is_file()
    shipped = bentos[0].parent / "src" / "src" / "serving"
    assert (shipped.parent / "library" / "store.py").is_file()  # the service imports the library layer
    assert sorted(p.name for p in (shipped / "web").iterdir()) == ["app.js", "index.html", "style.css"]  # the page
    # the bento installs the tested pins: the same torch/torchaudio pair as constraints.txt, no extras
    requirements = (bentos[0].parent / "env" / "python" / "requirements.txt").read_text().splitlines()
    constraints = (Path(__file__).resolve().parents[1] / "constraints.txt").read_text().splitlines()
    for package in ("torch", "torchaudio"):
        pinned = [line for line in constraints if line.startswith(f"{package}==")]
        assert len(pinned) == 1 and pinned[0] in requirements, (pinned, requirements[:5])
    assert not [line for line in requirements if line.startswith(("ray==", "playwright=="))]


def test_packaged_elsewhere_a_generated_runs_data_is_made_again_for_the_bf16_check(packaged, tmp_path):
    env = {**packaged, "BENTOML_HOME": str(tmp_path / "home")}
    done = run_module("training.package", cwd=tmp_path, env=env)  # the run's data/synthetic is not here
    assert (tmp_path / "data" / "synthetic").is_dir()  # generated again from the run's settings
    assert "bf16 check on" in done.stdout and "test clips" in done.stdout


def test_without_the_runs_data_the_model_is_left_unchecked_and_served_in_fp32(smoke_workdir, tmp_path):
    """A run on a real folder that is not on this machine: packaged unchecked, served in fp32."""
    checkpoint = sorted((smoke_workdir / "mlruns").rglob("best-*.ckpt"))[0]
    moved = torch.load(checkpoint, weights_only=False, map_location="cpu")
    moved["datamodule_hyper_parameters"].update(root=str(tmp_path / "gone"), synthetic=None)
    torch.save(moved, tmp_path / "moved.ckpt")
    artifact = ModelArtifact.from_checkpoint(tmp_path / "moved.ckpt", info={})
    check = check_bf16_on_test_split(artifact, tmp_path / "moved.ckpt")
    assert "gone" in check["skipped"]
    artifact.info["bf16_check"] = check
    assert not bf16_verified(artifact) and resolve_precision("auto", artifact)[0] == "fp32"


def test_no_bf16_check_packages_a_model_that_says_why_it_stays_fp32(packaged, smoke_workdir, tmp_path):
    env = {**packaged, "BENTOML_HOME": str(tmp_path / "home")}
    done = run_module("training.package", "--no-bf16-check", cwd=smoke_workdir, env=env)
    assert "precision auto will serve this model in fp32" in done.stdout
    (version,) = _models(tmp_path / "home")
    artifact = ModelArtifact.load(tmp_path / "home" / "models" / "genre-crnn" / version)
    assert artifact.info["bf16_check"] == {"skipped": "packaged with --no-bf16-check"}
    assert not bf16_verified(artifact)
