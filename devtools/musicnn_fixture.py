"""Make tests/data/musicnn_fixture.npz: what the original MSD-musicnn pipeline (TensorFlow +
librosa) gives for a real GTZAN clip, so the port's tests run in CI without TensorFlow.

Runs in a throwaway environment of its own, never the project's (TensorFlow is no dependency):

    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu librosa resampy
    scripts/download_musicnn.sh models/musicnn
    /tmp/tfenv/bin/python devtools/musicnn_fixture.py models/musicnn ../shared/gtzan_mini/genres/jazz/jazz.00000.wav

Features as musicnn 0.1.0's extractor.py computed them in 2019 (librosa 0.7): `librosa.load`
at 16 kHz with the `kaiser_best` resampler (resampy), a mel power spectrogram (n_fft 512, hop
256, 96 bands, reflect padding, librosa's 0.7 default), rounded to float16, then
log10(10000·mel + 1) computed in float32 (extractor.py computes it in float16 under NumPy 2,
which overflows to inf on about 1% of bins), cut into patches of 187 frames. The network: the
graph saved with the checkpoint, restored; outputs model/Sigmoid (tags) and the
batch norm after the 200-unit dense layer (the embedding).
"""

from __future__ import annotations

import sys
from pathlib import Path

import librosa
import numpy as np
import tensorflow as tf

PATCHES, FRAMES = 4, 187


def features(path: str) -> np.ndarray:
    audio, rate = librosa.load(path, sr=16000, res_type="kaiser_best")
    mel = librosa.feature.melspectrogram(y=audio, sr=rate, hop_length=256, n_fft=512, n_mels=96, pad_mode="reflect").T
    mel = np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)
    return np.stack([mel[i * FRAMES:(i + 1) * FRAMES] for i in range(PATCHES)])  # (patches, time, mel)


def outputs(weights: Path, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The checkpoint's own graph (its .meta; models.py no longer builds under Keras 3), restored
    after deleting every node's `_output_shapes`, which its saved gradient graph contradicts."""
    prefix = str(weights / "MSD_musicnn") + "/"
    meta = tf.compat.v1.MetaGraphDef()
    meta.ParseFromString(Path(prefix + ".meta").read_bytes())
    for node in meta.graph_def.node:
        node.attr.pop("_output_shapes", None)
    tf.compat.v1.disable_eager_execution()
    with tf.compat.v1.Session() as session:
        tf.compat.v1.train.import_meta_graph(meta).restore(session, prefix)
        return session.run(["model/Sigmoid:0", "model/batch_normalization_10/batchnorm/add_1:0"],
                           feed_dict={"model/Placeholder:0": patches, "model/Placeholder_2:0": False})


def main() -> None:
    weights, clip = Path(sys.argv[1]), sys.argv[2]
    patches = features(clip)
    tags, embedding = outputs(weights, patches)
    out = Path(__file__).resolve().parents[1] / "tests" / "data" / "musicnn_fixture.npz"
    np.savez_compressed(out, clip=Path(clip).name, patches=patches.astype(np.float32), tags=tags, embedding=embedding,
                        versions=f"tensorflow {tf.__version__}, librosa {librosa.__version__}, numpy {np.__version__}")
    print(f"wrote {out}: {len(patches)} patches of {clip}")


if __name__ == "__main__":
    main()
