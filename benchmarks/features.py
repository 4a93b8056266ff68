"""Decode + resample + log-mel: this project's path against librosa's, same files, same settings.

    pip install -e ".[bench]" && python benchmarks/features.py [--clips 20] [--repeats 3]

Prints clips per second for each path and their ratio, and the largest absolute difference of
the two log-mels in dB: for the whole path (the resamplers differ: torchaudio's windowed sinc
against soxr) and for the log-mel alone (both fed the same waveform).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
import torch
from common import SHARED_AUDIO, best_seconds_interleaved, emit

from data.audio import load_audio, resampler
from data.features import FeatureConfig, LogMel
from data.synthetic import generate

CONFIG = FeatureConfig()  # 12 kHz, n_fft 512, hop 256, 96 Slaney mels, dB with an 80 dB floor


def librosa_logmel(y: np.ndarray) -> np.ndarray:
    mel = librosa.feature.melspectrogram(
        y=y, sr=CONFIG.sample_rate, n_fft=CONFIG.n_fft, hop_length=CONFIG.hop_length,
        n_mels=CONFIG.n_mels, power=2.0, pad_mode="constant", htk=False, norm="slaney",
    )
    return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=CONFIG.top_db)


def librosa_path(path: Path) -> np.ndarray:
    y, _ = librosa.load(path, sr=CONFIG.sample_rate, mono=True)
    return librosa_logmel(y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=20, help="generated 30 s clips (22050 Hz wav)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    logmel = LogMel(CONFIG)

    def project_path(path: Path) -> torch.Tensor:
        return logmel(load_audio(path, CONFIG.sample_rate))

    with tempfile.TemporaryDirectory() as tmp:
        generated = generate(tmp, clips_per_genre=max(1, args.clips // 10), seed=7)[: args.clips]
        real = sorted(SHARED_AUDIO.glob("*.ogg")) + sorted(SHARED_AUDIO.glob("*.mp3")) if SHARED_AUDIO.exists() else []
        for label, files in (("generated 30 s wav", generated), ("real ogg/mp3 (../shared/audio)", real)):
            if not files:
                emit("features", "skipped", 0, "", set=label, reason=f"{SHARED_AUDIO} is absent")
                continue
            params = {"set": label, "files": len(files), "repeats": args.repeats, **CONFIG.to_dict()}
            times = best_seconds_interleaved({
                "project": lambda: [project_path(f) for f in files],
                "librosa": lambda: [librosa_path(f) for f in files],
            }, args.repeats)
            ours, theirs = times["project"], times["librosa"]
            emit("features", "project_clips_per_second", len(files) / ours, "clip/s", **params)
            emit("features", "librosa_clips_per_second", len(files) / theirs, "clip/s", **params)
            emit("features", "speedup_vs_librosa", theirs / ours, "x", **params)
            whole, alone = 0.0, 0.0
            for f in files:
                a, b = project_path(f).numpy(), librosa_path(f)
                frames = min(a.shape[1], b.shape[1])
                whole = max(whole, float(np.abs(a[:, :frames] - b[:, :frames]).max()))
                y, _ = librosa.load(f, sr=CONFIG.sample_rate, mono=True)
                alone = max(alone, float(np.abs(logmel(torch.from_numpy(y)).numpy() - librosa_logmel(y)).max()))
            emit("features", "max_abs_db_difference_whole_path", whole, "dB", **params)
            emit("features", "max_abs_db_difference_logmel_only", alone, "dB", **params)
        stage_breakdown(generated[0], logmel, args.repeats)


def stage_breakdown(path: Path, logmel: LogMel, repeats: int) -> None:
    """Milliseconds per stage for one 30 s clip: the decode is the same libsndfile call in both
    paths, so it bounds the ratio; resampling and log-mel are where they differ."""
    samples, rate = sf.read(path, dtype="float32")
    wave = torch.from_numpy(samples)
    resampled = resampler(rate, CONFIG.sample_rate)(wave)
    times = best_seconds_interleaved({
        "decode (both)": lambda: sf.read(path, dtype="float32"),
        "resample project (torchaudio sinc, cached kernel)": lambda: resampler(rate, CONFIG.sample_rate)(wave),
        "resample librosa (soxr_hq)": lambda: librosa.resample(samples, orig_sr=rate, target_sr=CONFIG.sample_rate),
        "log-mel project (torchaudio)": lambda: logmel(resampled),
        "log-mel librosa": lambda: librosa_logmel(resampled.numpy()),
    }, repeats * 4)
    for stage, seconds in times.items():
        emit("features", "stage_ms_per_30s_clip", 1000 * seconds, "ms", stage=stage, file=path.name)


if __name__ == "__main__":
    main()
