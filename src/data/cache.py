"""Log-mel spectrograms of a data set, computed once per spectrogram configuration.

Layout: `<cache_dir>/<spectrogram digest>/<clip id>-<source key>.pt` (a clip id is `<label>/<file name>`). The source key hashes the
audio file's path, size and modification time, so regenerated data is never read stale. Each
file is written to a temporary name and renamed, so an interrupted build leaves only complete
entries and the next build resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import torch
from tqdm.auto import tqdm

from data.audio import AudioDecodeError, load_audio
from data.features import LogMel, SpectrogramConfig
from data.folders import Clip
from data.threads import ordered_map

log = logging.getLogger(__name__)


class FeatureCache:
    def __init__(self, cache_dir: str | Path, spectrogram: SpectrogramConfig):
        self.spectrogram = spectrogram
        self.dir = Path(cache_dir) / spectrogram.digest()

    def path_for(self, clip: Clip) -> Path:
        stat = clip.path.stat()
        source = f"{clip.path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        key = hashlib.sha256(source.encode()).hexdigest()[:10]
        return self.dir / f"{clip.clip_id}-{key}.pt"

    def build(self, clips: list[Clip], workers: int = 0) -> list[Clip]:
        """Compute what is missing on `workers` threads; return the clips that have features
        (undecodable ones dropped, each with a warning naming the file and why)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        todo = [clip for clip in clips if not self.path_for(clip).exists()]
        failed: set[str] = set()
        logmel = LogMel(self.spectrogram)

        def compute(clip: Clip) -> torch.Tensor | AudioDecodeError:
            try:
                return logmel(load_audio(clip.path, self.spectrogram.sample_rate, resampling=self.spectrogram.resampler))
            except AudioDecodeError as exc:
                return exc

        results = ordered_map(compute, todo, workers)
        # A bar only when there is something to compute (a run builds each split several times).
        bar = tqdm(zip(todo, results), total=len(todo), desc=f"log-mel cache {self.dir.name}", unit="clip",
                   disable=not todo)
        for clip, result in bar:
            if isinstance(result, AudioDecodeError):
                log.warning("skipping %s: %s", clip.path, result.reason)
                failed.add(clip.clip_id)
                continue
            target = self.path_for(clip)
            target.parent.mkdir(exist_ok=True)
            partial = target.with_suffix(f".part{os.getpid()}")
            torch.save(result, partial)
            os.replace(partial, target)
        return [clip for clip in clips if clip.clip_id not in failed]

    def load(self, clip: Clip) -> torch.Tensor:
        return torch.load(self.path_for(clip), weights_only=True)

