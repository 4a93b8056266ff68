"""Fine-tuning from a trained model (`init_from=`) on a folder per label, end to end: a run into
a real MLflow store, packaging into a real BentoML store, `bentoml serve` called over HTTP."""

import json
from pathlib import Path

import lightning as L
import pytest
import soundfile as sf
import torch
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from conftest import bentoml_server, data_module, run_module, run_training, shared_path
from data.gtzan import GENRES
from data.synthetic import generate
from model.artifact import ModelArtifact
from model.networks import conv_layers
from training.config import compose_config, feature_settings
from training.finetune import StartingModel, load_starting_model, load_weights
from training.module import GenreClassifier
from training.tracking import download_best_checkpoint

# Four labels of our own, each one style of the generated data, in three formats with free names.
OWN_LABELS = {"chill": "classical", "heavy": "metal", "groove": "disco", "island": "reggae"}
FORMATS = ("wav", "flac", "ogg")


def _own_folder(root: Path, clips: int, seed: int) -> Path:
    """`root/<label>/track N.<fmt>`, made from generated clips of the label's style."""
    generated = root.parent / f"{root.name}-generated"
    generate(generated, clips_per_genre=clips, seconds=10.0, seed=seed)
    for label, style in OWN_LABELS.items():
        (root / label).mkdir(parents=True)
        for n in range(clips):
            audio, rate = sf.read(generated / "genres_original" / style / f"{style}.{n:05d}.wav")
            sf.write(root / label / f"track {n + 1}.{FORMATS[n % len(FORMATS)]}", audio, rate)
    return root


@pytest.fixture(scope="module")
def own(tmp_path_factory) -> dict[str, Path]:
    """Training data (6 songs per label) and songs the model never saw (2 per label)."""
    base = tmp_path_factory.mktemp("own")
    return {"train": _own_folder(base / "mine", 6, seed=5), "unseen": _own_folder(base / "unseen", 2, seed=99)}


def test_conv_layers_stay_frozen_and_the_body_learns_slower(synthetic_root, tmp_path):
    cfg = compose_config("experiment=smoke", "finetune.freeze_conv_epochs=1", "finetune.body_lr_scale=0.1")
    data = data_module(synthetic_root, tmp_path / "cache", "data.synthetic=null", "data.num_workers=0")
    model = GenreClassifier.from_config(cfg, data.labels)
    assert [group["lr"] for group in model.configure_optimizers().param_groups] == [pytest.approx(3e-4), 3e-3]
    before = {k: v.clone() for k, v in model.network.state_dict().items()}
    L.Trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=0, logger=False, enable_checkpointing=False,
              enable_progress_bar=False, enable_model_summary=False).fit(model, datamodule=data)
    frozen = {name for name, layer in model.network.named_modules() if any(layer is c for c in conv_layers(model.network))}
    moved = {k for k, v in model.network.state_dict().items() if not torch.equal(v, before[k])}
    assert {k.rsplit(".", 1)[0] for k in moved}.isdisjoint(frozen)  # weights and batch-norm statistics
    assert {"head.weight", "gru.weight_ih_l0"} <= moved


def test_a_new_head_for_other_labels_and_the_rest_loaded():
    smoke = compose_config("experiment=smoke")
    trained = GenreClassifier.from_config(smoke, list(GENRES)).network.state_dict()
    start = StartingModel(ModelArtifact(OmegaConf.to_container(smoke.model.network, resolve=True),
                                        *feature_settings("features=short"), list(GENRES), trained, "softmax"), "test")
    own = GenreClassifier.from_config(smoke, sorted(OWN_LABELS)).network
    assert load_weights(own, start, sorted(OWN_LABELS)) is False
    state = own.state_dict()
    assert state["head.weight"].shape[0] == 4
    assert all(torch.equal(state[k], v) for k, v in trained.items() if not k.startswith("head."))
    same = GenreClassifier.from_config(smoke, list(GENRES)).network
    assert load_weights(same, start, list(GENRES)) is True
    assert torch.equal(same.state_dict()["head.weight"], trained["head.weight"])


def test_a_start_that_is_neither_a_checkpoint_nor_a_model_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("BENTOML_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="init_from=genre-nothing:latest: neither a .ckpt file nor a model"):
        load_starting_model("genre-nothing:latest")
    with pytest.raises(FileNotFoundError, match="init_from=.*gone.ckpt: no such checkpoint"):
        load_starting_model(str(tmp_path / "gone.ckpt"))


def _only_run(uri: str):
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("genre-classification").experiment_id])
    assert len(runs) == 1
    return client, runs[0]


@pytest.fixture(scope="module")
def finetuned(smoke_workdir, own, tmp_path_factory) -> dict:
    """The smoke model's best checkpoint fine-tuned on the four labels, then packaged into a fresh
    BentoML store: the environment that reaches its MLflow and BentoML stores."""
    workdir = tmp_path_factory.mktemp("finetune")
    smoke_client, smoke_run = _only_run(f"sqlite:///{smoke_workdir / 'mlflow.db'}")
    start = download_best_checkpoint(smoke_client, smoke_run.info.run_id, workdir)
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}", "BENTOML_HOME": str(workdir / "bentoml")}
    run_training(workdir, "experiment=finetune", f"data.root={own['train']}", f"init_from={start}",  # a new head:
                 "model.optimizer.lr=3e-3", "trainer.max_epochs=4", "data.windows_per_clip=16", env=env)  # more steps
    run_module("training.package", cwd=workdir, env=env)
    return {**env, "start": str(start.resolve())}


def test_a_checkpoint_fine_tuned_on_four_new_labels_is_tracked_with_where_it_started(finetuned, smoke_workdir):
    client, run = _only_run(finetuned["MLFLOW_TRACKING_URI"])
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    assert run.info.status == "FINISHED"
    assert tags["init_from"] == f"checkpoint:{finetuned['start']}" and tags["init_head"] == "new"
    assert params["init_from"] == finetuned["start"] and params["finetune.freeze_conv_epochs"] == "2"
    # the starting model's settings, not the composed config's (features=choi, model=crnn)
    assert params["features.spectrogram.n_mels"] == "64" and params["features.windows.seconds"] == "3.0"
    assert params["model.network.channels"] == "[16, 32, 32, 32]"
    assert {f"test_acc_{label}" for label in OWN_LABELS} <= set(metrics)
    assert not any(name.startswith("start_") for name in metrics)  # a new head has nothing to compare
    assert metrics["test_clip_acc"] >= 0.75, metrics


def test_the_packaged_model_classifies_and_recommends_with_the_new_labels(finetuned, own, tmp_path):
    unseen = own["unseen"]
    files = lambda field, *paths: [(field, (p.name, p.read_bytes())) for p in paths]  # noqa: E731
    with bentoml_server(finetuned, tmp_path) as server:
        answer = server.post("/classify", files=files("audio", unseen / "heavy" / "track 1.wav"))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert list(body["probabilities"]) == sorted(OWN_LABELS) and body["genre"] == "heavy", body
        assert set(body["windows"][0]["probabilities"]) == set(OWN_LABELS)

        favourites = [unseen / "groove" / "track 1.wav", unseen / "groove" / "track 2.flac"]
        candidates = [unseen / label / "track 1.wav" for label in ("chill", "heavy", "island")]
        candidates.insert(1, own["train"] / "groove" / "track 3.ogg")
        answer = server.post("/recommend", data={"top_k": "2"},
                             files=files("favorites", *favourites) + files("candidates", *candidates))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["favorite_genre"] == "groove" and set(body["taste_profile"]) == set(OWN_LABELS)
        assert body["recommendations"][0]["file"] == "track 3.ogg"
        assert body["recommendations"][0]["genre"] == "groove" and body["errors"] == []


def test_the_old_model_fine_tunes_on_real_gtzan_clips(keras_store, tmp_path):
    """The imported Keras model (a BentoML tag) on ../shared/gtzan_mini: its own features and cut,
    its head kept, and its own test figures before fine-tuning recorded beside the run's."""
    mini = shared_path("gtzan_mini")
    env = {**keras_store, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    done = run_training(tmp_path, "experiment=finetune", f"data.root={mini}", "data.split_fractions=[0.4,0.2,0.4]",
                        "trainer.max_epochs=1", "data.windows_per_clip=1", env=env)
    assert "as it started (bentoml:genre-crnn-keras:" in done.stdout
    client, run = _only_run(env["MLFLOW_TRACKING_URI"])
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    assert tags["init_from"].startswith("bentoml:genre-crnn-keras:") and tags["init_head"] == "kept"
    assert params["features.windows.mode"] == "keras" and params["features.spectrogram.mel_exponent"] == "2.0"
    assert params["model.network.name"] == "keras_crnn" and params["model.output"] == "sigmoid_sum"
    assert tags["split"] == "random" and "split 'random' {'train': 20, 'valid': 10, 'test': 20}" in done.stdout
    # The old model was trained on GTZAN: as imported it already knows these clips (72% on all 50).
    assert metrics["start_test_clip_acc"] >= 0.5 and {"test_clip_acc", "start_test_macro_f1"} <= set(metrics)
    checkpoint = download_best_checkpoint(client, run.info.run_id, tmp_path)
    hparams = torch.load(checkpoint, map_location="cpu", weights_only=True)["hyper_parameters"]
    assert hparams["labels"] == list(GENRES) and hparams["output"] == "sigmoid_sum"


def test_a_genre_head_on_msd_musicnn_keeps_its_tags_and_is_served_with_them(musicnn_folder, tmp_path):
    """experiment=finetune_musicnn (init_from musicnn-msd:latest) on real GTZAN clips of three
    genres: a softmax head learns the genres on the frozen body, the 50 tags stay beside it, and the packaged model answers
    genres, the tagger's very tags and its embedding from one pass."""
    mini = shared_path("gtzan_mini")
    data = tmp_path / "three"
    for genre in ("classical", "jazz", "metal"):
        (data / genre).mkdir(parents=True)
        for clip in sorted(mini.rglob(f"{genre}.*"))[:5]:
            (data / genre / clip.name).write_bytes(clip.read_bytes())
    env = {"BENTOML_HOME": str(tmp_path / "bentoml"), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    run_module("training.import_musicnn", str(musicnn_folder), cwd=tmp_path, env=env)
    run_training(tmp_path, "experiment=finetune_musicnn", f"data.root={data}", "data.split_fractions=[0.6,0.2,0.2]",
                 "trainer.max_epochs=5", env=env)
    client, run = _only_run(env["MLFLOW_TRACKING_URI"])
    params, metrics = run.data.params, run.data.metrics
    assert params["model.network.name"] == "musicnn" and params["model.output"] == "softmax"
    assert params["finetune.freeze_body"] == "auto" and run.data.tags["init_head"] == "new"
    assert run.data.tags["init_from"].startswith("bentoml:musicnn-msd:") and params["model.optimizer.lr"] == "0.01"
    assert metrics["test_clip_acc"] >= 2 / 3, metrics  # 3 test clips: real genres on a frozen body
    run_module("training.package", cwd=tmp_path, env=env)

    song = data / "jazz" / sorted(p.name for p in (data / "jazz").iterdir())[-1]
    tagger = run_module("serving", "--model", "musicnn-msd:latest", "classify", str(song), "--json", cwd=tmp_path, env=env)
    expected = json.loads(tagger.stdout)["songs"][0]["tags"]
    with bentoml_server(env, tmp_path, "precision: fp32\n") as server:  # as the CLI ran the tagger
        with open(song, "rb") as f:
            body = server.post("/classify", files={"audio": (song.name, f, "audio/wav")}).json()
    assert body["model"].startswith("genre-crnn:") and set(body["probabilities"]) == {"classical", "jazz", "metal"}
    assert list(body["tags"]) == list(expected)
    assert all(abs(body["tags"][tag] - p) < 1e-4 for tag, p in expected.items())  # the body is frozen: same tags
    artifact = ModelArtifact.load(next((tmp_path / "bentoml" / "models" / "genre-crnn").glob("*/model.json")).parent)
    assert artifact.output == "softmax" and len(artifact.tags) == 50 and artifact.tags[17] == "Mellow"
