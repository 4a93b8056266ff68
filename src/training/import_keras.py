"""Import the old project's trained Keras CRNN (Keras 1.1 / Theano HDF5 weights) as a packaged model.

    python -m training.import_keras crnn_gtzan_jsalbert.h5 [--name NAME] [--check-data DIR]

The weights were trained by the old project's authors (jsalbert/Music-Genre-Classification-
with-Deep-Learning, MIT licence), who report 80% accuracy on the 1000 GTZAN clips after
fine-tuning on 30 songs per genre of their own. `scripts/download_keras_model.sh` fetches them.
The model is saved to the BentoML store with the feature settings that reproduce how the old
project fed it (conf/features/keras.yaml), so `bentoml serve` and `python -m serving` use it like a model trained here.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import bentoml
import h5py
import numpy as np
import torch

from data.folders import read_folder
from data.gtzan import GENRES
from model.artifact import ModelArtifact
from model.precision import CHECK_KEY, check_bf16, describe_check
from training.config import compose_config, feature_settings

KERAS_SHA256 = "e6d7d9aa90eef37e84f604e122a7550a881d2e927a7aa9f6308ceb6b8c2063f2"
# The old network's shape, fixed by its weights (one output per genre of GENRES).
KERAS_NETWORK = {"name": "keras_crnn", "n_mels": 96, "frames": 1366, "time_padding": 37,
                 "channels": [64, 128, 128, 128], "pools": [[2, 2], [3, 3], [4, 4], [4, 4]], "gru_hidden": 32}


def _bn(layer: h5py.Group, name: str, target: str) -> dict[str, torch.Tensor]:
    read = lambda key: torch.from_numpy(np.asarray(layer[f"{name}_{key}"], dtype=np.float32))  # noqa: E731
    return {
        f"{target}.weight": read("gamma"), f"{target}.bias": read("beta"),
        f"{target}.running_mean": read("running_mean"),
        f"{target}.running_var": read("running_std"),  # Keras 1.1 keeps the variance under this name
        f"{target}.num_batches_tracked": torch.tensor(0),
    }


def _gru(layer: h5py.Group, name: str, target: str) -> dict[str, torch.Tensor]:
    stack = lambda kind: torch.from_numpy(np.concatenate(  # noqa: E731
        [np.asarray(layer[f"{name}_{kind}_{gate}"], dtype=np.float32) for gate in "zrh"], axis=-1))
    return {f"{target}.input_weight": stack("W"), f"{target}.recurrent_weight": stack("U"), f"{target}.bias": stack("b")}


def convert(h5_path: str | Path) -> dict[str, torch.Tensor]:
    """The Keras weights as a `KerasCRNN` state dict."""
    state: dict[str, torch.Tensor] = {}
    with h5py.File(h5_path, "r") as f:
        state.update(_bn(f["bn_0_freq"], "bn_0_freq", "input_norm"))
        for i in range(4):
            conv = f[f"conv{i + 1}"]
            kernel = np.asarray(conv[f"conv{i + 1}_W"], dtype=np.float32)[:, :, ::-1, ::-1]  # Theano convolves
            state[f"blocks.{i}.0.weight"] = torch.from_numpy(kernel.copy())
            state[f"blocks.{i}.0.bias"] = torch.from_numpy(np.asarray(conv[f"conv{i + 1}_b"], dtype=np.float32))
            state.update(_bn(f[f"bn{i + 1}"], f"bn{i + 1}", f"blocks.{i}.1"))
        state.update(_gru(f["gru1"], "gru1", "gru1"))
        state.update(_gru(f["gru2"], "gru2", "gru2"))
        state["head.weight"] = torch.from_numpy(np.asarray(f["preds"]["preds_W"], dtype=np.float32).T.copy())
        state["head.bias"] = torch.from_numpy(np.asarray(f["preds"]["preds_b"], dtype=np.float32))
    return state


def keras_artifact(h5_path: str | Path) -> ModelArtifact:
    """The old model in this project's model format (weights, network, its features, labels)."""
    digest = hashlib.sha256(Path(h5_path).read_bytes()).hexdigest()
    spectrogram, windows = feature_settings("features=keras")
    artifact = ModelArtifact(
        network_config=KERAS_NETWORK, spectrogram=spectrogram, windows=windows, labels=list(GENRES),
        state_dict=convert(h5_path),
        output="sigmoid_sum",
        info={"source": "jsalbert/Music-Genre-Classification-with-Deep-Learning (MIT)", "sha256": digest,
              "reported": "80% on the 1000 GTZAN clips, after fine-tuning on 30 songs per genre"},
    )
    artifact.build_network()  # refuse weights that do not fit
    return artifact


def import_keras(h5_path: str | Path, name: str, check_data: Path | None) -> bentoml.Model:
    artifact = keras_artifact(h5_path)
    artifact.info[CHECK_KEY] = (check_bf16(artifact, list(read_folder(check_data).clips), check_data.name)
                                if check_data is not None else {"skipped": "imported without --check-data"})
    with bentoml.models.create(name, labels={"source": "keras", "network": "keras_crnn"},
                               metadata={"sha256": artifact.info["sha256"], "labels": artifact.labels}) as model:
        artifact.save(model.path)
    return bentoml.models.get(model.tag)


def main(argv: list[str] | None = None) -> None:
    default_name = compose_config().tracking.keras_model_name
    parser = argparse.ArgumentParser(prog="python -m training.import_keras", description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", type=Path, help="crnn_gtzan_jsalbert.h5 (scripts/download_keras_model.sh)")
    parser.add_argument("--name", default=default_name, help=f"BentoML model name (default {default_name})")
    parser.add_argument("--check-data", type=Path, help="a data set folder with GTZAN's genres: compare fp32 and bf16 on all its clips "
                        "(precision auto serves bf16 only for a model checked so)")
    args = parser.parse_args(argv)
    if not args.weights.is_file():
        sys.exit(f"no such file: {args.weights} (scripts/download_keras_model.sh fetches it)")
    try:
        model = import_keras(args.weights, args.name, args.check_data)
    except (OSError, KeyError, RuntimeError) as exc:
        sys.exit(f"{args.weights}: not the old project's CRNN weights ({exc})")
    if model.info.metadata["sha256"] != KERAS_SHA256:
        print(f"note: sha256 differs from the published weights ({KERAS_SHA256})", file=sys.stderr)
    print(f"imported {args.weights} as {model.tag}; model store: {model.path}")
    print(describe_check(ModelArtifact.load(model.path).info.get(CHECK_KEY)))  # the check lives in model.json


if __name__ == "__main__":
    main()
