"""Whether a model may run in bf16: checked once per model, then chosen where it runs.

bf16 runs the CRNN 1.5-2x as fast as fp32 on CPUs with native bf16 (benchmarks/inference.py)
but is not exact: a song's probabilities move by up to about 0.02 (the old Keras model on 50
real GTZAN clips). `precision: auto` (the default) serves bf16 only where it changed no answer
that was checked: on a CPU with native bf16, for a model whose top genre bf16 left unchanged
on every clip of an evaluation split. `check_bf16` makes that check when a model is packaged,
and the model keeps its result (clips, agreement, both accuracies) in its metadata.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from data.audio import AudioDecodeError
from data.folders import Clip
from model.artifact import ModelArtifact
from model.predict import SongAnalyzer, WindowClassifier
from model.choices import Backend, Precision, PrecisionSetting

log = logging.getLogger(__name__)

CHECK_KEY = "bf16_check"


def native_bf16() -> bool:
    """AVX-512 BF16 or AMX: bf16 in hardware (elsewhere oneDNN emulates it, slower than fp32)."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def check_bf16(artifact: ModelArtifact, clips: list[Clip], split: str) -> dict[str, Any]:
    """Each clip's song-level distribution in fp32 and in bf16 (the service's path: every window
    of the whole clip, then their mean): how often the top genre agrees, and the accuracy of each."""
    analyzer = SongAnalyzer(artifact)
    classifiers = {precision: WindowClassifier(artifact, "fused", precision, batch_size=1) for precision in ("fp32", "bf16")}
    top: dict[str, list[int]] = {"fp32": [], "bf16": []}
    truth, largest_difference = [], 0.0
    for clip in tqdm(clips, desc=f"bf16 check on {split}", unit="clip"):
        try:
            song = analyzer.prepare(clip.path)
        except AudioDecodeError as exc:
            log.warning("bf16 check: skipping %s: %s", clip.path, exc.reason)
            continue
        probabilities = {p: analyzer.summarize(clip.clip_id, song, c.forward(song.windows)).probabilities
                         for p, c in classifiers.items()}
        for precision, values in probabilities.items():
            top[precision].append(int(np.argmax(values)))
        truth.append(artifact.labels.index(clip.genre) if clip.genre in artifact.labels else -1)  # a tagger lacks some
        largest_difference = max(largest_difference, float(np.abs(probabilities["fp32"] - probabilities["bf16"]).max()))
    named = np.not_equal(truth, -1)  # clips whose folder names one of the model's labels
    accuracy = {p: round(float(np.mean(np.equal(top[p], truth)[named])), 4) if named.any() else None for p in top}
    return {
        "split": split, "clips": len(truth),
        "same_top_genre": int(np.sum(np.equal(top["fp32"], top["bf16"]))),
        "fp32_accuracy": accuracy["fp32"], "bf16_accuracy": accuracy["bf16"],
        "max_probability_difference": round(largest_difference, 6),
    }


def describe_check(check: dict[str, Any] | None) -> str:
    """One line for the packaging commands to print."""
    if not check or not check.get("clips"):
        return "bf16 not checked: precision auto will serve this model in fp32"
    return (f"bf16 check on {check['clips']} {check['split']} clips: same top genre as fp32 on "
            f"{check['same_top_genre']}{_accuracies(check, '; accuracy {fp32} fp32, {bf16} bf16')}")


def _accuracies(check: dict[str, Any], form: str) -> str:
    """Both accuracies in `form`; nothing where no clip's folder named a label of the model (a tagger's)."""
    if check.get("fp32_accuracy") is None:
        return ""
    return form.format(fp32=f"{check['fp32_accuracy']:.1%}", bf16=f"{check['bf16_accuracy']:.1%}")


def bf16_verified(artifact: ModelArtifact) -> bool:
    check = artifact.info.get(CHECK_KEY) or {}
    return check.get("clips", 0) > 0 and check.get("same_top_genre") == check["clips"]


def resolve_precision(setting: PrecisionSetting, artifact: ModelArtifact) -> tuple[Precision, str]:
    """The precision to run, and why."""
    if setting != "auto":
        return setting, f"precision {setting} as configured"
    if not native_bf16():
        return "fp32", "auto: fp32, this CPU has no native bf16"
    if not bf16_verified(artifact):
        return "fp32", "auto: fp32, bf16 was not checked (or changed a top genre) for this model"
    check = artifact.info[CHECK_KEY]
    return "bf16", (f"auto: bf16, same top genre as fp32 on all {check['clips']} {check['split']} clips"
                    + _accuracies(check, " (accuracy {bf16} in bf16, {fp32} in fp32)"))


def load_classifier(
    artifact: ModelArtifact, backend: Backend, setting: PrecisionSetting, batch_size: int
) -> tuple[WindowClassifier, str]:
    """The network ready to serve in the precision chosen for this model and CPU, and a line
    saying how it runs and why (the service logs it, the CLI prints it)."""
    precision, why = resolve_precision(setting, artifact)
    return WindowClassifier(artifact, backend, precision, batch_size), f"{backend} {why}"
