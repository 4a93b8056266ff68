"""`GTZANDataModule`: a GTZAN-layout folder, a split and a feature config, ready for Lightning.

Training batches are random crops of cached log-mels; validation and test batches hold every
sliding window of whole clips, with the clip each window came from, so clip accuracy is
measured the way the service will predict.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from data.cache import FeatureCache
from data.features import FeatureConfig
from data.gtzan import GENRES, Clip, index_gtzan, make_split
from data.segments import random_crop, sliding_windows
from data.synthetic import generate

log = logging.getLogger(__name__)


class CropDataset(Dataset):
    """`crops_per_clip` random segments per clip and epoch: (1, n_mels, frames), label."""

    def __init__(self, logmels: list[torch.Tensor], labels: list[int], frames: int, crops_per_clip: int = 1):
        self.logmels, self.labels, self.frames = logmels, labels, frames
        self.crops_per_clip = crops_per_clip

    def __len__(self) -> int:
        return len(self.logmels) * self.crops_per_clip

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        i %= len(self.logmels)
        return random_crop(self.logmels[i], self.frames).unsqueeze(0), self.labels[i]


class WindowDataset(Dataset):
    """All sliding windows of a clip: (n, 1, n_mels, frames), label."""

    def __init__(self, logmels: list[torch.Tensor], labels: list[int], frames: int, hop: int):
        self.logmels, self.labels, self.frames, self.hop = logmels, labels, frames, hop

    def __len__(self) -> int:
        return len(self.logmels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        windows, _ = sliding_windows(self.logmels[i], self.frames, self.hop)
        return windows, self.labels[i]


def collate_windows(items: list[tuple[torch.Tensor, int]]) -> dict[str, torch.Tensor]:
    """Stack the windows of several clips; `clip_index` maps each window to its clip."""
    windows = torch.cat([w for w, _ in items])
    counts = torch.tensor([len(w) for w, _ in items])
    clip_labels = torch.tensor([label for _, label in items])
    return {
        "x": windows,
        "clip_index": torch.repeat_interleave(torch.arange(len(items)), counts),
        "clip_y": clip_labels,
        "y": torch.repeat_interleave(clip_labels, counts),
    }


class GTZANDataModule(L.LightningDataModule):
    def __init__(
        self,
        root: str,
        features: dict[str, Any] | FeatureConfig,
        split: str = "filtered",
        split_seed: int = 0,
        split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
        batch_size: int = 16,
        crops_per_clip: int = 1,
        eval_clips_per_batch: int = 8,
        num_workers: int = 0,
        cache_dir: str = "cache/features",
        synthetic: dict[str, Any] | None = None,
    ):
        """`synthetic` ({clips_per_genre, seconds, seed}) generates data into `root` when missing."""
        super().__init__()
        self.root = Path(root)
        self.features = features if isinstance(features, FeatureConfig) else FeatureConfig.from_dict(dict(features))
        self.split_name, self.split_seed = split, split_seed
        self.split_fractions = tuple(split_fractions)
        self.batch_size, self.eval_clips_per_batch = batch_size, eval_clips_per_batch
        self.crops_per_clip = crops_per_clip
        self.num_workers = num_workers
        self.cache = FeatureCache(cache_dir, self.features)
        self.synthetic = dict(synthetic) if synthetic else None
        self.labels = list(GENRES)
        # Stored in checkpoints, so `python -m training.evaluate` rebuilds the same data.
        self.save_hyperparameters(ignore=["features"], logger=False)
        self.hparams["features"] = self.features.to_dict()
        self.test_split = "test"  # the split test_dataloader serves; evaluate may point it elsewhere
        self.clips: dict[str, list[Clip]] = {}
        self._logmels: dict[str, list[torch.Tensor]] = {}

    def prepare_data(self) -> None:
        if self.synthetic:
            generate(self.root, **self.synthetic)
        self._split_and_cache()

    def _split_and_cache(self) -> dict[str, list[Clip]]:
        index = index_gtzan(self.root)
        split = make_split(index, self.split_name, self.split_seed, self.split_fractions)
        return {name: self.cache.build(clips, self.num_workers) for name, clips in split.items()}

    def setup(self, stage: str | None = None) -> None:
        if self.clips:
            return
        self.clips = self._split_and_cache()
        for name, clips in self.clips.items():
            self._logmels[name] = [self.cache.load(clip) for clip in clips]
            log.info("%s: %d clips", name, len(clips))

    def split_sizes(self) -> dict[str, int]:
        return {name: len(clips) for name, clips in self.clips.items()}

    def _labels(self, name: str) -> list[int]:
        return [clip.label for clip in self.clips[name]]

    def train_dataloader(self) -> DataLoader:
        dataset = CropDataset(
            self._logmels["train"], self._labels("train"), self.features.segment_frames, self.crops_per_clip
        )
        return DataLoader(
            dataset, batch_size=self.batch_size, shuffle=True, drop_last=len(dataset) > self.batch_size,
            num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
        )

    def eval_dataloader(self, name: str) -> DataLoader:
        """Whole clips of split `name` ("train", "valid" or "test") as window batches."""
        dataset = WindowDataset(
            self._logmels[name], self._labels(name), self.features.segment_frames, self.features.eval_hop_frames
        )
        return DataLoader(
            dataset, batch_size=self.eval_clips_per_batch, collate_fn=collate_windows,
            num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader:
        return self.eval_dataloader("valid")

    def test_dataloader(self) -> DataLoader:
        return self.eval_dataloader(self.test_split)
