"""Shared fixtures: generated GTZAN-shaped data and the real files in ../shared/."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright

from hydra.utils import instantiate

from data.datamodule import FolderDataModule
from data.synthetic import generate
from local_server import local_server
from training.config import compose_config

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CHROMIUM = Path("/usr/bin/chromium")
# As root in a container Chromium needs --no-sandbox; the rest keeps it off the network.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run"]


def shared_path(*parts: str) -> Path:
    """A path under ../shared/, or a skip that says what is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the project's ../shared/ folder), which is absent here")
    return path


def data_module(root: Path, cache_dir: Path, *overrides: str) -> FolderDataModule:
    """The smoke experiment's data module (data=synthetic, features=short) on `root`."""
    cfg = compose_config("experiment=smoke", f"data.root={root}", f"data.cache_dir={cache_dir}", *overrides)
    return instantiate(cfg.data, _convert_="all")


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """3 clips per genre, 30 s, GTZAN layout: shared read-only by the tests that only read it."""
    root = tmp_path_factory.mktemp("synthetic")
    generate(root, clips_per_genre=3, seconds=30.0, seed=0)
    return root


@pytest.fixture(scope="session")
def unseen(tmp_path_factory) -> Path:
    """Generated clips the smoke model never saw (another seed): 3 per genre."""
    root = tmp_path_factory.mktemp("unseen")
    generate(root, clips_per_genre=3, seed=123)
    return root / "genres_original"


def run_training(workdir: Path, *overrides: str, env: dict | None = None, timeout: int = 600):
    """`python -m training` in `workdir`; MLflow's default store (workdir/mlflow.db) unless `env` names one."""
    return run_module("training", *overrides, cwd=workdir, env=env or {}, timeout=timeout, unset=("MLFLOW_TRACKING_URI",))


@pytest.fixture(scope="session")
def smoke_workdir(tmp_path_factory) -> Path:
    """A folder where `python -m training experiment=smoke` ran once: data, cache, mlflow.db."""
    workdir = tmp_path_factory.mktemp("smoke")
    run_training(workdir, "experiment=smoke")  # the default store: workdir/mlflow.db
    return workdir


def run_module(module: str, *args: str, cwd: Path, env: dict, timeout: int = 300, check: bool = True,
               unset: tuple[str, ...] = (), python: tuple[str, ...] = ()):
    """`python [PYTHON OPTIONS] -m MODULE ARGS` as a real subprocess, with extra environment and
    `unset` variables removed; fails the test with its output unless `check` is off."""
    environment = {k: v for k, v in os.environ.items() if k not in unset}
    done = subprocess.run(
        [sys.executable, *python, "-m", module, *args], cwd=cwd, capture_output=True, text=True,
        timeout=timeout, env={**environment, **env},
    )
    if check:
        assert done.returncode == 0, f"python -m {module} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done


@pytest.fixture(scope="session")
def packaged(smoke_workdir, tmp_path_factory) -> dict:
    """The smoke run packaged into a fresh BentoML store: the environment that reaches both stores."""
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{smoke_workdir / 'mlflow.db'}",
        "BENTOML_HOME": str(tmp_path_factory.mktemp("bentoml_home")),
    }
    run_module("training.package", cwd=smoke_workdir, env=env)
    return env


@contextlib.contextmanager
def bentoml_server(env: dict, folder: Path, serving_yaml: str = ""):
    """`bentoml serve` from the repository root on a free 127.0.0.1 port; yields an HTTP client."""
    config = folder / "serving.yaml"
    config.write_text(serving_yaml or "{}\n")
    with local_server({**env, "GENRE_SERVING_CONFIG": str(config)}, folder / "serve.log") as url:
        with httpx.Client(base_url=url, timeout=300) as client:
            yield client


@pytest.fixture(scope="session")
def keras_weights() -> Path:
    return shared_path("seed", "crnn_gtzan_jsalbert.h5")


@pytest.fixture(scope="session")
def keras_store(keras_weights, tmp_path_factory) -> dict:
    """The old Keras model imported (with its bf16 check on ../shared/gtzan_mini) into a fresh
    BentoML store: the environment that reaches it."""
    home = tmp_path_factory.mktemp("keras_bentoml")
    done = run_module("training.import_keras", str(keras_weights), "--check-data", str(shared_path("gtzan_mini")),
                      cwd=home, env={"BENTOML_HOME": str(home)})
    assert "imported" in done.stdout and "genre-crnn-keras:" in done.stdout
    return {"BENTOML_HOME": str(home)}


@pytest.fixture(scope="session")
def musicnn_folder() -> Path:
    """MSD-musicnn as scripts/download_musicnn.sh leaves it, in models/musicnn (downloaded from
    PyPI once, its sha256 checked; kept between runs, ignored by git)."""
    folder = REPO / "models" / "musicnn"
    done = subprocess.run(["bash", str(REPO / "scripts" / "download_musicnn.sh"), str(folder)], capture_output=True,
                          text=True, timeout=600)
    if done.returncode:
        pytest.fail(f"scripts/download_musicnn.sh could not fetch MSD-musicnn from PyPI:\n{done.stderr[-2000:]}")
    return folder


@pytest.fixture(scope="session")
def musicnn_store(musicnn_folder, tmp_path_factory) -> dict:
    """MSD-musicnn imported into a fresh BentoML store: the environment that reaches it."""
    home = tmp_path_factory.mktemp("musicnn_bentoml")
    done = run_module("training.import_musicnn", str(musicnn_folder), cwd=home, env={"BENTOML_HOME": str(home)})
    assert "imported" in done.stdout and "musicnn-msd:" in done.stdout
    return {"BENTOML_HOME": str(home)}


@pytest.fixture(scope="session")
def music(tmp_path_factory) -> Path:
    """2 generated 20 s songs per genre, and the real recordings of ../shared/audio when present."""
    root = tmp_path_factory.mktemp("music")
    generate(root / "generated", clips_per_genre=2, seconds=20.0, seed=77)
    if (SHARED / "audio").is_dir():
        shutil.copytree(SHARED / "audio", root / "real", ignore=shutil.ignore_patterns("*.txt", "*.md"))
    return root


def index(music: Path, library: Path, env: dict, **kwargs) -> subprocess.CompletedProcess:
    """`python -m serving --library LIBRARY index MUSIC`."""
    return run_module("serving", "--library", str(library), "index", str(music), cwd=music.parent, env=env, **kwargs)


def rows(library: Path, query: str) -> list[tuple]:
    with sqlite3.connect(library / "library.db") as db:
        return db.execute(query).fetchall()


@pytest.fixture(scope="session")
def indexed(music, packaged, tmp_path_factory) -> Path:
    """`music` indexed with the packaged smoke model: a library folder (read it, do not change it)."""
    library = tmp_path_factory.mktemp("indexed")
    index(music, library, packaged)
    return library


@pytest.fixture(scope="session")
def other_model(packaged) -> str:
    """A second model in the `packaged` store (the smoke model's files under another name, as a
    second packaging or import would add): its tag."""
    code = ("import bentoml; from model.artifact import ModelArtifact\n"
            "artifact = ModelArtifact.load(bentoml.models.get('genre-crnn:latest').path)\n"
            "with bentoml.models.create('genre-crnn-other') as model:\n    artifact.save(model.path)\n"
            "print(model.tag)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **packaged}, check=True)
    return done.stdout.strip()


@pytest.fixture(scope="module")
def browser() -> Browser:
    """Debian's Chromium, headless, driven by Playwright (its own browsers are never downloaded).
    Per module: Playwright's sync API holds an event loop on the main thread while it runs, which
    the tests of other modules that start their own (asyncio.run) must not find."""
    if not CHROMIUM.is_file():
        pytest.skip(f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
