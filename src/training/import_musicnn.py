"""Import MSD-musicnn (Pons & Serra 2019) as a packaged model: 50 tags, a 200-float embedding.

    python -m training.import_musicnn DEST [--name NAME] [--check-data DIR]

`scripts/download_musicnn.sh DEST` fetches it from PyPI (musicnn 0.1.0, ISC licence). Trained on
the Million Song Dataset's 50 most used Last.fm tags (genres, moods, eras, instruments, voices),
it hears far more music than ten GTZAN genres. Its TensorFlow checkpoint is read without
TensorFlow (training.tensor_bundle); the network (model.networks.musicnn) equals TensorFlow's
outputs within 1e-4 (tests/test_musicnn.py). Saved with the features that feed it
(conf/features/musicnn.yaml) and the output rule "sigmoid": independent tag probabilities.
Fine-tuning a genre head on it keeps the tags (training.finetune).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import sys
from pathlib import Path

import bentoml
import numpy as np
import torch

from data.folders import read_folder
from model.artifact import ModelArtifact
from model.precision import CHECK_KEY, check_bf16, describe_check
from training.config import compose_config, feature_settings
from training.tensor_bundle import BundleError, read_bundle

NETWORK = {"name": "musicnn"}  # MSD-musicnn's sizes are the network's defaults


def labels(folder: Path) -> list[str]:
    """MSD_LABELS of the package's configuration.py, read as data (never executed)."""
    tree = ast.parse((folder / "source" / "configuration.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "MSD_LABELS" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise BundleError(f"{folder}/source/configuration.py names no MSD_LABELS")


def convert(tensors: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """The checkpoint's variables as a `Musicnn` state dict (TensorFlow's layer names are numbered
    in the order models.py creates them)."""
    state: dict[str, torch.Tensor] = {}

    def put(name: str, array: np.ndarray) -> None:
        state[name] = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))

    def norm(target: str, number: int) -> None:
        source = f"batch_normalization_{number}" if number else "batch_normalization"
        for ours, theirs in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                             ("running_var", "moving_variance")):
            put(f"{target}.{ours}", tensors[f"{source}/{theirs}"])
        state[f"{target}.num_batches_tracked"] = torch.tensor(0)

    norm("input_norm", 0)
    for i in range(5):  # timbral 7x38, 7x67; temporal 128, 64, 32 frames
        put(f"frontend.{i}.conv.weight", tensors[f"conv2d_{i}/kernel" if i else "conv2d/kernel"].transpose(3, 2, 0, 1))
        put(f"frontend.{i}.conv.bias", tensors[f"conv2d_{i}/bias" if i else "conv2d/bias"])
        norm(f"frontend.{i}.norm", i + 1)
    for i in range(3):  # (7, width, 1, filters) kernels over the time axis only: 1-D convolutions
        put(f"midend.{i}.conv.weight", tensors[f"conv2d_{i + 5}/kernel"][:, :, 0, :].transpose(2, 1, 0))
        put(f"midend.{i}.conv.bias", tensors[f"conv2d_{i + 5}/bias"])
        norm(f"midend.{i}.norm", i + 6)
    norm("pooled_norm", 9)
    put("dense.1.weight", tensors["dense/kernel"].T)
    put("dense.1.bias", tensors["dense/bias"])
    norm("dense.3", 10)
    put("head.weight", tensors["dense_1/kernel"].T)
    put("head.bias", tensors["dense_1/bias"])
    return state


def musicnn_artifact(folder: str | Path) -> ModelArtifact:
    """MSD-musicnn in this project's model format, from the folder the download script filled."""
    folder = Path(folder)
    checkpoint = folder / "MSD_musicnn"
    digest = hashlib.sha256((checkpoint / ".data-00000-of-00001").read_bytes()).hexdigest()
    spectrogram, windows = feature_settings("features=musicnn")
    artifact = ModelArtifact(
        network_config=dict(NETWORK), spectrogram=spectrogram, windows=windows, labels=labels(folder),
        state_dict=convert(read_bundle(f"{checkpoint}/")), output="sigmoid",
        info={"source": "MSD-musicnn, Pons & Serra 2019, from the PyPI package musicnn 0.1.0 (ISC licence)",
              "sha256": digest,
              "trained": "the Million Song Dataset's 50 most used Last.fm tags",
              "features": "16 kHz through torchaudio's kaiser window resampler set as resampy's kaiser_best, which "
                          "the model was trained with: embedding cosine 1.0000 to the original pipeline's on the "
                          "test clip (tests/test_musicnn.py)"},
    )
    artifact.build_network()  # refuse weights that do not fit
    return artifact


def import_musicnn(folder: Path, name: str, check_data: Path | None) -> bentoml.Model:
    artifact = musicnn_artifact(folder)
    artifact.info[CHECK_KEY] = (check_bf16(artifact, list(read_folder(check_data).clips), check_data.name)
                                if check_data is not None else {"skipped": "imported without --check-data"})
    with bentoml.models.create(name, labels={"source": "musicnn", "network": "musicnn"},
                               metadata={"sha256": artifact.info["sha256"], "labels": artifact.labels}) as model:
        artifact.save(model.path)
    return bentoml.models.get(model.tag)


def main(argv: list[str] | None = None) -> None:
    default_name = compose_config().tracking.musicnn_model_name
    parser = argparse.ArgumentParser(prog="python -m training.import_musicnn", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="the folder scripts/download_musicnn.sh filled (models/musicnn)")
    parser.add_argument("--name", default=default_name, help=f"BentoML model name (default {default_name})")
    parser.add_argument("--check-data", type=Path, help="a folder of songs to compare fp32 and bf16 on "
                        "(precision auto serves bf16 only for a model checked so)")
    args = parser.parse_args(argv)
    if not (args.folder / "MSD_musicnn").is_dir():
        sys.exit(f"no MSD_musicnn checkpoint in {args.folder} (scripts/download_musicnn.sh {args.folder} fetches it)")
    try:
        model = import_musicnn(args.folder, args.name, args.check_data)
    except (OSError, KeyError, RuntimeError, BundleError) as exc:
        sys.exit(f"{args.folder}: not MSD-musicnn as musicnn 0.1.0 ships it ({exc})")
    print(f"imported {args.folder} as {model.tag}; model store: {model.path}")
    print(describe_check(ModelArtifact.load(model.path).info.get(CHECK_KEY)))


if __name__ == "__main__":
    main()
