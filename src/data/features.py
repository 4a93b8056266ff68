"""Log-mel features: one configuration, one transform, used for training and serving alike.

The `FeatureConfig` travels with every packaged model, so the service can never compute
features differently from the run that trained the weights.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn
from torchaudio import transforms as T


@dataclass(frozen=True)
class FeatureConfig:
    """How audio becomes the network's input. Defaults follow Choi et al. 2016 (12 kHz, 96 mels)."""

    sample_rate: int = 12000
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 96
    f_min: float = 0.0
    f_max: float | None = None
    # librosa's filterbank (Slaney mel scale and area normalisation) unless told otherwise.
    mel_scale: Literal["slaney", "htk"] = "slaney"
    mel_norm: Literal["slaney"] | None = "slaney"
    log: Literal["db", "log1p"] = "db"
    top_db: float | None = 80.0
    # Exponent applied to the mel power spectrogram before the log (the old model used 2).
    mel_exponent: float = 1.0
    # Padding of the centred STFT at both ends ("reflect" in librosa before 0.10).
    pad_mode: Literal["constant", "reflect"] = "constant"
    segment_seconds: float = 29.12
    # Hop between evaluation / serving windows, as a fraction of the segment.
    eval_hop_fraction: float = 0.5
    # How a song becomes windows when predicting. "sliding": the song's log-mel cut into
    # windows every eval_hop_fraction. "seed": the old project's rule (see
    # data.segments.seed_chunks): audio cut first, each chunk's log-mel computed on its own.
    windowing: Literal["sliding", "seed"] = "sliding"
    # "seed" windowing drops this much at both ends of songs long enough to keep a window.
    trim_seconds: float = 0.0

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "FeatureConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown feature settings: {sorted(unknown)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """Short stable hash: names the feature cache and tags MLflow runs."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    @property
    def segment_samples(self) -> int:
        return round(self.segment_seconds * self.sample_rate)

    @property
    def segment_frames(self) -> int:
        """Frames of one segment with a centred STFT (1366 for 29.12 s at 12 kHz, hop 256)."""
        return 1 + self.segment_samples // self.hop_length

    @property
    def eval_hop_frames(self) -> int:
        return max(1, round(self.segment_frames * self.eval_hop_fraction))

    def frames_to_seconds(self, frames: int) -> float:
        return frames * self.hop_length / self.sample_rate


class LogMel(nn.Module):
    """Waveforms (..., samples) -> log-mel spectrograms (..., n_mels, frames), item by item.

    The dB floor (`top_db`) is taken per item, never across a batch.
    """

    def __init__(self, config: FeatureConfig):
        super().__init__()
        self.config = config
        self.mel = T.MelSpectrogram(
            sample_rate=config.sample_rate,
            n_fft=config.n_fft,
            hop_length=config.hop_length,
            f_min=config.f_min,
            f_max=config.f_max,
            n_mels=config.n_mels,
            power=2.0,
            norm=config.mel_norm,
            mel_scale=config.mel_scale,
            center=True,
            pad_mode=config.pad_mode,
        )

    @torch.no_grad()
    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        mel = self.mel(waveform)
        if self.config.mel_exponent != 1.0:
            mel = mel.pow(self.config.mel_exponent)
        if self.config.log == "log1p":
            return torch.log1p(10000.0 * mel)
        db = 10.0 * torch.log10(mel.clamp_min(1e-10))
        if self.config.top_db is not None:
            peak = db.amax(dim=(-2, -1), keepdim=True)
            db = torch.maximum(db, peak - self.config.top_db)
        return db
