"""CRNN inference speed per backend and batch size, against this machine's matrix-product rate.

    python benchmarks/inference.py [--batches 1,8,32] [--backends eager,fused,compiled] [--repeats 3]

For the faithful CRNN on features=choi windows: windows per second, milliseconds per 30 s clip
(every window the service cuts from it), achieved GFLOP/s (FLOPs counted by torch's
FlopCounterMode) and its ratio to an fp32 matrix product measured in the same run on the same
threads, plus the largest difference of each backend's probabilities from eager. With ../shared/
present it also runs the old project's trained Keras model over the 50 real GTZAN clips in fp32
and bf16: agreement of top genres and accuracy of each.
"""

from __future__ import annotations

import argparse

import torch
from common import SHARED, best_seconds, emit, feature_settings, matmul_gflops, network_config, window_shape
from torch.utils.flop_counter import FlopCounterMode

from data.gtzan import GENRES
from data.windows import window_starts
from model.networks import build_network
from model.runtime import InferenceNetwork

CLIP_SECONDS = 30.0  # a GTZAN clip


def trained_looking_crnn() -> torch.nn.Module:
    torch.manual_seed(0)
    network = build_network(network_config(), len(GENRES)).eval()
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_var.uniform_(0.5, 2.0)
            module.running_mean.normal_(0, 0.1)
    return network


def keras_model_agreement() -> None:
    """Top genres of fp32 and bf16 on real GTZAN clips, with the old project's Keras model."""
    from data.folders import read_folder
    from model.predict import GenrePredictor, WindowClassifier
    from training.import_keras import keras_artifact

    weights, mini = SHARED / "seed" / "crnn_gtzan_jsalbert.h5", SHARED / "gtzan_mini"
    if not (weights.exists() and mini.exists()):
        emit("inference", "skipped_keras_agreement", 0, "", reason="../shared/seed or ../shared/gtzan_mini absent")
        return
    artifact = keras_artifact(weights)
    clips = read_folder(mini).clips
    results = {}
    for precision in ("fp32", "bf16"):
        predictor = GenrePredictor(artifact, WindowClassifier(artifact, "fused", precision, batch_size=1))
        results[precision] = [predictor.predict(c.path).genre for c in clips]
        accuracy = sum(g == c.genre for g, c in zip(results[precision], clips)) / len(clips)
        emit("inference", "keras_model_clip_accuracy", accuracy, "fraction", precision=precision, clips=len(clips),
             data="../shared/gtzan_mini (50 real GTZAN clips, mostly in the Keras model's training data)")
    same = sum(a == b for a, b in zip(results["fp32"], results["bf16"]))
    emit("inference", "bf16_same_top_genre_as_fp32", same / len(clips), "fraction", clips=len(clips))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--backends", default="eager,fused,compiled")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    spectrogram, windows = feature_settings()
    shape = window_shape(spectrogram, windows)
    frames = windows.frames(spectrogram)
    windows_per_clip = len(window_starts(spectrogram.frames(round(CLIP_SECONDS * spectrogram.sample_rate)),
                                         frames, windows.hop_frames(spectrogram)))
    network = trained_looking_crnn()
    with FlopCounterMode(display=False) as counter:
        network(torch.zeros(1, *shape))
    flops = counter.get_total_flops()
    emit("inference", "flops_per_window", flops / 1e9, "GFLOP", input=" x ".join(map(str, shape)))
    variants = [(b, "fp32") for b in args.backends.split(",")] + [("fused", "bf16")]
    for batch in (int(b) for b in args.batches.split(",")):
        peak = matmul_gflops()  # again for every batch size: the rate drifts on a shared machine
        emit("inference", "matmul_gflops", peak, "GFLOP/s", size=2048, dtype="fp32", batch=batch)
        x = torch.randn(batch, *shape) * 10
        with torch.inference_mode():
            reference = network(x)[0].softmax(-1)
        for backend, precision in variants:
            runner = InferenceNetwork(network, backend, precision)
            seconds = best_seconds(lambda: runner(x), args.repeats, warmup=2 if backend == "compiled" else 1)
            probs = runner(x)[0].softmax(-1)
            params = {"backend": backend, "precision": precision, "batch": batch}
            gflops = flops * batch / seconds / 1e9
            emit("inference", "windows_per_second", batch / seconds, "window/s", **params)
            emit("inference", "ms_per_30s_clip", 1000 * seconds / batch * windows_per_clip, "ms",
                 windows_per_clip=windows_per_clip, **params)
            emit("inference", "achieved_gflops", gflops, "GFLOP/s", **params)
            emit("inference", "fraction_of_matmul_rate", gflops / peak, "ratio", **params)
            emit("inference", "max_abs_prob_diff_vs_eager", float((probs - reference).abs().max()), "", **params)
    keras_model_agreement()


if __name__ == "__main__":
    main()
