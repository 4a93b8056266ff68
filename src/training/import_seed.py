"""Import the old project's trained CRNN (Keras 1.1 / Theano HDF5 weights) as a packaged model.

    python -m training.import_seed crnn_gtzan_jsalbert.h5 [--name genre-crnn-seed]

The weights were trained by the old project's authors (jsalbert/Music-Genre-Classification-
with-Deep-Learning, MIT licence), who report 80% accuracy on the 1000 GTZAN clips after
fine-tuning on 30 songs per genre of their own. `scripts/download_seed_model.sh` fetches them.
The model is saved to the BentoML store with a feature config that reproduces how the old
project fed it, so `bentoml serve` and `python -m serving` use it like a model trained here.
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

from data.features import FeatureConfig
from data.gtzan import GENRES, index_gtzan
from serving.precision import CHECK_KEY, check_bf16, describe_check
from training.artifact import ModelArtifact

SEED_SHA256 = "e6d7d9aa90eef37e84f604e122a7550a881d2e927a7aa9f6308ceb6b8c2063f2"

# librosa 0.5 as the old project called it: load at 12 kHz, melspectrogram(n_fft=512, hop=256,
# n_mels=96; centred STFT with reflect padding, Slaney mel filters), squared once more,
# logamplitude(ref_power=1.0) = 10 log10 with an 80 dB floor, 29.12 s (1366-frame) chunks cut
# from the audio (20 s dropped at both ends of long songs, the centre of 30 s clips).
SEED_FEATURES = FeatureConfig(
    sample_rate=12000, n_fft=512, hop_length=256, n_mels=96, f_min=0.0, f_max=None,
    mel_scale="slaney", mel_norm="slaney", log="db", top_db=80.0, mel_exponent=2.0,
    pad_mode="reflect", segment_seconds=29.12, eval_hop_fraction=1.0, windowing="seed", trim_seconds=20.0,
)
SEED_NETWORK = {"name": "seed_crnn", "n_mels": 96, "frames": 1366, "time_padding": 37, "n_classes": 10,
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
    """The Keras weights as a `SeedCRNN` state dict."""
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


def import_seed_artifact(h5_path: str | Path) -> ModelArtifact:
    """The old model as this project's model format (weights, network, seed features, labels)."""
    digest = hashlib.sha256(Path(h5_path).read_bytes()).hexdigest()
    artifact = ModelArtifact(
        network_config=SEED_NETWORK, features=SEED_FEATURES, labels=list(GENRES), state_dict=convert(h5_path),
        output="sigmoid_sum",
        info={"source": "jsalbert/Music-Genre-Classification-with-Deep-Learning (MIT)", "sha256": digest,
              "reported": "80% on the 1000 GTZAN clips, after fine-tuning on 30 songs per genre"},
    )
    artifact.build_network()  # refuse weights that do not fit
    return artifact


def import_seed(h5_path: str | Path, name: str = "genre-crnn-seed", check_data: Path | None = None) -> bentoml.Model:
    artifact = import_seed_artifact(h5_path)
    artifact.info[CHECK_KEY] = (check_bf16(artifact, list(index_gtzan(check_data).clips), check_data.name)
                                if check_data is not None else {"skipped": "imported without --check-data"})
    with bentoml.models.create(name, labels={"source": "seed", "network": "seed_crnn"},
                               metadata={"sha256": artifact.info["sha256"], "labels": artifact.labels,
                                         CHECK_KEY: artifact.info[CHECK_KEY]}) as model:
        artifact.save(model.path)
    return bentoml.models.get(model.tag)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.import_seed", description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", type=Path, help="crnn_gtzan_jsalbert.h5 (scripts/download_seed_model.sh)")
    parser.add_argument("--name", default="genre-crnn-seed", help="BentoML model name")
    parser.add_argument("--check-data", type=Path, help="a GTZAN-layout folder: compare fp32 and bf16 on all its clips "
                        "(precision auto serves bf16 only for a model checked so)")
    args = parser.parse_args(argv)
    if not args.weights.is_file():
        sys.exit(f"no such file: {args.weights} (scripts/download_seed_model.sh fetches it)")
    try:
        model = import_seed(args.weights, args.name, args.check_data)
    except (OSError, KeyError, RuntimeError) as exc:
        sys.exit(f"{args.weights}: not the old project's CRNN weights ({exc})")
    if model.info.metadata["sha256"] != SEED_SHA256:
        print(f"note: sha256 differs from the published weights ({SEED_SHA256})", file=sys.stderr)
    print(f"imported {args.weights} as {model.tag}; model store: {model.path}")
    print(describe_check(model.info.metadata.get(CHECK_KEY)))


if __name__ == "__main__":
    main()
