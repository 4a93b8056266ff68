"""Past one machine: the library indexed on Ray (a real local Ray instance on this machine's two
cores) stores what the embedded indexer stores, and `index --engine ray` works from the command
line; training under DDP (`trainer=ddp`, gloo) runs on two CPU processes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from conftest import run_module, run_training
from library.indexer import analysis_settings, engine, index_library
from library.store import Library
from model.predict import GenrePredictor, WindowClassifier
from serving.config import load_config
from test_model import smoke_artifact

NEEDS_RAY = "the Ray engine needs the cluster extra: pip install -e \".[dev,cluster]\" -c constraints.txt"


@pytest.fixture(scope="module")
def local_ray():
    """Ray on this machine's two cores, started for these tests and stopped after them."""
    ray = pytest.importorskip("ray", reason=NEEDS_RAY)
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 << 20)
    yield ray
    ray.shutdown()


def test_the_ray_engine_stores_what_the_embedded_engine_stores(music, local_ray, tmp_path):
    folder = tmp_path / "music"
    shutil.copytree(music, folder)
    (folder / "broken.mp3").write_bytes(b"ID3 this is not an mp3")
    config, artifact = load_config(), smoke_artifact()
    settings = config.library
    predictor = GenrePredictor(artifact, WindowClassifier(artifact, config.backend, "fp32", config.network_batch))
    analysis = analysis_settings("smoke:test", predictor, settings.max_windows)
    engines = {name: engine(name, predictor, settings, config.backend, config.network_batch) for name in ("embedded", "ray")}
    songs, lines = {}, {}
    for name, analyse in engines.items():
        library = Library(tmp_path / name)
        summary = index_library(folder, library, analyse, artifact.labels, artifact.tags, analysis, config.genre_weight, settings,
                                progress=False)
        lines[name] = summary.lines()
        songs[name] = {song.path: song for song in library.songs()}
        library.close()
    count = len(songs["embedded"])
    assert count == len([p for p in music.rglob("*") if p.suffix in {".wav", ".ogg", ".mp3"}]) > 0
    for name in engines:
        assert lines[name][0].startswith(f"analysed {count}, unchanged 0, moved 0, removed 0, failed 1;"), lines[name]
        assert lines[name][1] == f"failed: {folder / 'broken.mp3'}: not a readable audio file (unknown or corrupt format)"
    assert sorted(songs["ray"]) == sorted(songs["embedded"])
    for path, here in songs["embedded"].items():
        there = songs["ray"][path]
        assert (there.genre, there.duration, there.title, there.artist) == (here.genre, here.duration, here.title, here.artist)
        np.testing.assert_allclose(there.probabilities, here.probabilities, atol=1e-6, err_msg=path)
        np.testing.assert_allclose(there.embedding, here.embedding, atol=1e-6, err_msg=path)


def test_index_engine_ray_on_the_command_line(music, packaged, tmp_path):
    pytest.importorskip("ray", reason=NEEDS_RAY)
    folder = tmp_path / "music"
    for genre in ("blues", "jazz", "metal"):
        source = music / "generated" / "genres_original" / genre / f"{genre}.00000.wav"
        shutil.copy(source, (folder / genre).mkdir(parents=True) or folder / genre / source.name)
    command = ("serving", "--library", str(tmp_path / "library"), "index", str(folder))
    first = run_module(*command, "--engine", "ray", cwd=tmp_path, env=packaged)
    assert "analysed 3, unchanged 0, moved 0, removed 0, failed 0" in first.stdout
    assert "Started a local Ray instance" in first.stderr  # on this machine's cores, shut down after
    again = run_module(*command, "--engine", "ray", cwd=tmp_path, env=packaged)
    assert "analysed 0, unchanged 3, moved 0, removed 0, failed 0" in again.stdout
    assert "Ray" not in again.stderr  # nothing new: no cluster started
    wrong = run_module(*command, "--address", "auto", cwd=tmp_path, env=packaged, check=False)
    assert wrong.returncode != 0 and "names a Ray cluster: give it with the ray engine (--engine ray)" in wrong.stderr


def test_ddp_trains_the_smoke_experiment_on_two_cpu_processes(synthetic_root, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_training(
        tmp_path, "experiment=smoke", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
        "trainer.precision=32-true", "trainer.sync_batchnorm=false", "trainer.max_epochs=2",
        # 15 training clips of 2 windows: batches of 4 give each of the two processes some steps.
        "data.windows_per_clip=2", "data.batch_size=4", "data.num_workers=0", "data.synthetic=null",
        f"data.root={synthetic_root}", f"data.cache_dir={tmp_path / 'cache'}",
        env={"MLFLOW_TRACKING_URI": uri},
    )
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("genre-classification").experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"  # one run, recorded by rank 0 only
    assert (runs[0].data.params["trainer.strategy"], runs[0].data.params["trainer.devices"]) == ("ddp", "2")
    assert len(client.get_metric_history(runs[0].info.run_id, "val_clip_acc")) == 2
    assert "test_clip_acc" in runs[0].data.metrics
