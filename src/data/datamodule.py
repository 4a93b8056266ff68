"""`FolderDataModule`: a data set folder (one sub-folder per label, `data.folders`), a split and
the feature settings, ready for Lightning.

Training batches are random windows of cached log-mels; validation and test batches hold every
window of whole clips, cut exactly as the service cuts them (`data.windows.song_windows`: the
sliding cut from the cached log-mel, the old Keras model's cut from the audio), with the clip
each window came from, so clip accuracy is measured the way the service will predict. The
labels are the data set's folder names. Every argument comes from `conf/data/*.yaml`; none has
a default here.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from data.cache import FeatureCache
from data.audio import load_audio
from data.features import LogMel, SpectrogramConfig
from data.folders import Clip, LabelledFolder, make_split, read_folder
from data.gtzan import SPLITS as GTZAN_SPLITS
from data.synthetic import generate
from data.windows import WindowConfig, clip_windows, random_window, song_windows

log = logging.getLogger(__name__)


class RandomWindowDataset(Dataset):
    """`windows_per_clip` random windows per clip and epoch: (1, n_mels, frames), label."""

    def __init__(self, logmels: list[torch.Tensor], labels: list[int], frames: int, windows_per_clip: int):
        self.logmels, self.labels, self.frames = logmels, labels, frames
        self.windows_per_clip = windows_per_clip

    def __len__(self) -> int:
        return len(self.logmels) * self.windows_per_clip

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        i %= len(self.logmels)
        return random_window(self.logmels[i], self.frames).unsqueeze(0), self.labels[i]


class ClipWindowsDataset(Dataset):
    """All windows of a whole clip: (n, 1, n_mels, frames), label. The sliding cut reads the
    cached log-mel; the Keras cut takes each window's log-mel from its own audio, so the clip is
    decoded again."""

    def __init__(self, clips: list[Clip], logmels: list[torch.Tensor], windows: WindowConfig, spectrogram: SpectrogramConfig):
        self.clips, self.logmels = clips, logmels
        self.windows, self.spectrogram = windows, spectrogram
        self.logmel = LogMel(spectrogram) if windows.mode == "keras" else None

    def __len__(self) -> int:
        return len(self.logmels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if self.windows.mode == "keras":
            audio = load_audio(self.clips[i].path, self.spectrogram.sample_rate, resampling=self.spectrogram.resampler)
            windows, _ = song_windows(audio, self.windows, self.logmel)
        else:
            windows, _ = clip_windows(self.logmels[i], self.windows, self.spectrogram)
        return windows, self.clips[i].label


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


class FolderDataModule(L.LightningDataModule):
    def __init__(
        self,
        root: str,
        spectrogram: dict[str, Any],
        windows: dict[str, Any],
        split: str,
        split_seed: int,
        split_fractions: tuple[float, float, float],
        split_lists: dict[str, str] | None,
        batch_size: int,
        windows_per_clip: int,
        eval_clips_per_batch: int,
        num_workers: int,
        cache_dir: str,
        synthetic: dict[str, Any] | None,
    ):
        """`synthetic` ({clips_per_genre, seconds, seed}) generates data into `root` when missing."""
        super().__init__()
        self.root = Path(root)
        self.spectrogram = SpectrogramConfig.model_validate(dict(spectrogram))
        self.windows = WindowConfig.model_validate(dict(windows))
        self.split_name, self.split_seed = split, split_seed
        self.split_fractions = tuple(split_fractions)
        self.split_lists = dict(split_lists) if split_lists else None
        self.batch_size, self.eval_clips_per_batch = batch_size, eval_clips_per_batch
        self.windows_per_clip = windows_per_clip
        self.num_workers = num_workers
        self.cache = FeatureCache(cache_dir, self.spectrogram)
        self.synthetic = dict(synthetic) if synthetic else None
        # Stored in checkpoints: `python -m training.evaluate` rebuilds the same data, and a
        # packaged model takes its spectrogram and window settings from here.
        self.save_hyperparameters(logger=False)
        self.test_split = "test"  # the split test_dataloader serves; evaluate may point it elsewhere
        self.clips: dict[str, list[Clip]] = {}
        self._folder: LabelledFolder | None = None
        self._split: dict[str, list[Clip]] | None = None
        self._logmels: dict[str, list[torch.Tensor]] = {}

    def prepare_data(self) -> None:
        self._split_and_cache()

    def folder(self) -> LabelledFolder:
        """The data set's labels and clips (generated first where `synthetic` says so). Listed
        once: listing probes every file, and a run asks for labels, splits and its records."""
        if self._folder is None:
            if self.synthetic:
                generate(self.root, **self.synthetic)
            self._folder = read_folder(self.root)
        return self._folder

    @property
    def labels(self) -> list[str]:
        """The data set's labels (its folder names, sorted): the network's outputs, in order."""
        return list(self.folder().labels)

    def split_clips(self) -> dict[str, list[Clip]]:
        """The clips of each split, as listed (before the cache drops undecodable ones)."""
        if self._split is None:
            self._split = make_split(self.folder(), self.split_name, self.split_seed, self.split_fractions, self.split_lists,
                                     GTZAN_SPLITS)
        return self._split

    def _split_and_cache(self) -> dict[str, list[Clip]]:
        return {name: self.cache.build(clips, self.num_workers) for name, clips in self.split_clips().items()}

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
        dataset = RandomWindowDataset(
            self._logmels["train"], self._labels("train"), self.windows.frames(self.spectrogram), self.windows_per_clip
        )
        return DataLoader(
            dataset, batch_size=self.batch_size, shuffle=True, drop_last=len(dataset) > self.batch_size,
            num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
        )

    def eval_dataloader(self, name: str) -> DataLoader:
        """Whole clips of split `name` ("train", "valid" or "test") as window batches."""
        dataset = ClipWindowsDataset(self.clips[name], self._logmels[name], self.windows, self.spectrogram)
        return DataLoader(
            dataset, batch_size=self.eval_clips_per_batch, collate_fn=collate_windows,
            num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader:
        return self.eval_dataloader("valid")

    def test_dataloader(self) -> DataLoader:
        return self.eval_dataloader(self.test_split)
