"""Decode + resample + log-mel: this project's path against librosa's, same files, same settings.

    pip install -e ".[bench]" && python benchmarks/features.py [--clips 20] [--repeats 5] [--rounds 3]

Prints clips per second for each path and their ratio, a breakdown by stage, and the largest
absolute difference of the two log-mels in dB, both with the spectrogram settings of
features=choi (conf/features/choi.yaml): for the whole path (the resamplers differ:
torchaudio's windowed sinc against soxr) and for the log-mel alone (both fed the same waveform).

Each path is timed in a fresh process of its own, taking turns: in one process, the thread pool
that numpy's OpenBLAS leaves spinning after librosa's matrix products slows torch's threads on
the same cores by up to 2x, which would measure the neighbour, not the path.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
import torch
from common import SHARED_AUDIO, best_seconds, emit, feature_settings

from data.audio import load_audio, resampler
from data.features import LogMel
from data.synthetic import generate
from data.threads import ordered_map

CONFIG, _ = feature_settings()  # the spectrogram settings of the faithful features (features=choi)
LOGMEL = LogMel(CONFIG)
# How each path goes over a list of files. The feature cache (data.cache) builds with
# `workers` threads: a data set's files decode two at a time on two cores.
PATHS = {
    "project": lambda files: [project_path(f) for f in files],
    "project, 2 threads (as the feature cache builds)": lambda files: list(ordered_map(project_path, files, threads=2)),
    "librosa": lambda files: [librosa_path(f) for f in files],
}


def librosa_logmel(y: np.ndarray) -> np.ndarray:
    """LogMel's computation in librosa, from the same settings (data.features.LogMel: power
    spectrogram, mel filters, the optional exponent, 10 log10 with a floor below the peak)."""
    if CONFIG.log != "db":
        raise ValueError(f"the librosa path computes dB log-mels only, not log={CONFIG.log!r}")
    mel = librosa.feature.melspectrogram(
        y=y, sr=CONFIG.sample_rate, n_fft=CONFIG.n_fft, hop_length=CONFIG.hop_length, n_mels=CONFIG.n_mels,
        fmin=CONFIG.f_min, fmax=CONFIG.f_max, power=2.0, center=True, pad_mode=CONFIG.pad_mode,
        htk=CONFIG.mel_scale == "htk", norm=CONFIG.mel_norm,
    ) ** CONFIG.mel_exponent
    return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=CONFIG.top_db)


def librosa_path(path: Path) -> np.ndarray:
    y, _ = librosa.load(path, sr=CONFIG.sample_rate, mono=True)
    return librosa_logmel(y)


def project_path(path: Path) -> torch.Tensor:
    return LOGMEL(load_audio(path, CONFIG.sample_rate))


def project_stages(path: Path) -> dict[str, Callable[[], object]]:
    """The path cut at its seams, each stage fed the previous stage's output."""
    rate = sf.info(path).samplerate
    wave, resampled = load_audio(path, rate), load_audio(path, CONFIG.sample_rate)
    return {"decode to mono": lambda: load_audio(path, rate),
            "resample (torchaudio sinc, cached kernel)": lambda: resampler(rate, CONFIG.sample_rate)(wave),
            "log-mel (torchaudio)": lambda: LOGMEL(resampled)}


def librosa_stages(path: Path) -> dict[str, Callable[[], object]]:
    samples, rate = librosa.load(path, sr=None, mono=True)
    resampled = librosa.resample(samples, orig_sr=rate, target_sr=CONFIG.sample_rate)
    return {"decode to mono": lambda: librosa.load(path, sr=None, mono=True),
            "resample (soxr_hq)": lambda: librosa.resample(samples, orig_sr=rate, target_sr=CONFIG.sample_rate),
            "log-mel (librosa)": lambda: librosa_logmel(resampled)}


STAGES = {"project": project_stages, "librosa": librosa_stages}


def time_in_this_process(kind: str, files: list[Path], repeats: int) -> dict[str, float]:
    """Best seconds for the whole path over `files`, then for each stage on the first file."""
    times = {"whole": best_seconds(lambda: PATHS[kind](files), repeats)}
    stages = STAGES[kind](files[0]) if kind in STAGES else {}
    for stage, fn in stages.items():
        times[stage] = best_seconds(fn, repeats * 4)
    return times


def time_in_fresh_processes(files: list[Path], repeats: int, rounds: int) -> dict[str, dict[str, float]]:
    """Each path in a new process, in turns (project, librosa, project, ...); best of all rounds."""
    best: dict[str, dict[str, float]] = {}
    for _ in range(rounds):
        for kind in PATHS:
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                times = pool.submit(time_in_this_process, kind, files, repeats).result()
            best[kind] = {k: min(v, best.get(kind, {}).get(k, v)) for k, v in times.items()}
    return best


def db_differences(files: list[Path]) -> dict[str, float]:
    """|project - librosa| in dB. Over the whole path the largest differences sit in the top mel
    bands, next to 6 kHz, where soxr's roll-off is steeper than torchaudio's; below them the two
    agree to a few hundredths of a dB. The log-mel alone (same waveform in) agrees everywhere."""
    top = 6  # mel bands above about 5.3 kHz
    figures = {"max_abs_db_difference_whole_path": 0.0, "mean_abs_db_difference_whole_path": 0.0,
               f"mean_abs_db_difference_whole_path_below_top_{top}_mels": 0.0, "max_abs_db_difference_logmel_only": 0.0}
    for f in files:
        a, b = project_path(f).numpy(), librosa_path(f)
        frames = min(a.shape[1], b.shape[1])
        difference = np.abs(a[:, :frames] - b[:, :frames])
        y, _ = librosa.load(f, sr=CONFIG.sample_rate, mono=True)
        alone = np.abs(LOGMEL(torch.from_numpy(y)).numpy() - librosa_logmel(y))
        for figure, value in zip(figures, (difference.max(), difference.mean(), difference[:-top].mean(), alone.max())):
            figures[figure] = max(figures[figure], float(value)) if figure.startswith("max") else figures[figure] + float(value) / len(files)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=20, help="generated 30 s clips (22050 Hz wav)")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes over the files in each process")
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes per path, in turns")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generated = generate(tmp, clips_per_genre=max(1, args.clips // 10), seed=7)[: args.clips]
        real = sorted(SHARED_AUDIO.glob("*.ogg")) + sorted(SHARED_AUDIO.glob("*.mp3")) if SHARED_AUDIO.exists() else []
        for label, files in (("generated 30 s wav", generated), ("real ogg/mp3 (../shared/audio)", real)):
            if not files:
                emit("features", "skipped", 0, "", set=label, reason=f"{SHARED_AUDIO} is absent")
                continue
            params = {"set": label, "files": len(files), "repeats": args.repeats, "rounds": args.rounds, **CONFIG.model_dump()}
            times = time_in_fresh_processes(files, args.repeats, args.rounds)
            for kind, kind_times in times.items():
                emit("features", "clips_per_second", len(files) / kind_times["whole"], "clip/s", path=kind, **params)
                emit("features", "speedup_vs_librosa", times["librosa"]["whole"] / kind_times["whole"], "x", path=kind, **params)
            for kind in PATHS:
                for stage, seconds in times[kind].items():
                    if stage != "whole":
                        emit("features", "stage_ms", 1000 * seconds, "ms", path=kind, stage=stage, file=files[0].name,
                             seconds_of_audio=round(sf.info(files[0]).duration, 1), set=label)
            for figure, value in db_differences(files).items():
                emit("features", figure, value, "dB", **params)


if __name__ == "__main__":
    main()
