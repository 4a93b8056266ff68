"""Log-mel spectrograms: one configuration, one transform, for training and serving alike.

`SpectrogramConfig` travels with every packaged model, so the service can never compute
features differently from the run that trained the weights. Its digest keys the feature cache:
only settings that change the spectrogram belong here (how it is cut into windows does not,
see `data.windows`). The values live in `conf/features/*.yaml`; this schema only checks them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from data import require_torchaudio
from data.audio import Resampling
from data.schema import Schema

require_torchaudio()
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torchaudio import transforms as T  # noqa: E402


class SpectrogramConfig(Schema):
    """How audio becomes a log-mel spectrogram (conf/features/choi.yaml: Choi et al. 2016)."""

    sample_rate: int
    n_fft: int
    hop_length: int
    n_mels: int
    f_min: float
    f_max: float | None
    mel_scale: Literal["slaney", "htk"]
    mel_norm: Literal["slaney"] | None
    # db: 10 log10 with a floor top_db below the peak; log1p: log(1 + 10000 mel); log10_fp16:
    # log10(10000 mel + 1) of the mel rounded to float16 first, as MSD-musicnn was trained.
    log: Literal["db", "log1p", "log10_fp16"]
    top_db: float | None
    # Exponent applied to the mel power spectrogram before the log (the old Keras model used 2).
    mel_exponent: float
    # Padding of the centred STFT at both ends ("reflect" in librosa before 0.10).
    pad_mode: Literal["constant", "reflect"]
    # How decoded audio reaches `sample_rate` (data.audio.Resampling). Models packaged before this
    # setting existed used "sinc".
    resampler: Resampling = "sinc"

    def digest(self) -> str:
        """Short stable hash: names the feature cache and tags MLflow runs (settings from before
        `resampler` existed, "sinc", keep their hash, so their caches and libraries stay valid)."""
        blob = json.dumps(self.model_dump(exclude={"resampler"} if self.resampler == "sinc" else None),
                          sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def frames(self, samples: int) -> int:
        """Frames of a centred STFT over `samples` (1366 for 29.12 s at 12 kHz, hop 256)."""
        return 1 + samples // self.hop_length

    def frames_to_seconds(self, frames: int) -> float:
        return frames * self.hop_length / self.sample_rate


class LogMel(nn.Module):
    """Waveforms (..., samples) -> log-mel spectrograms (..., n_mels, frames), item by item.

    The dB floor (`top_db`) is taken per item, never across a batch.
    """

    def __init__(self, config: SpectrogramConfig):
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
        if self.config.log == "log10_fp16":
            return torch.log10(10000.0 * mel.half().float() + 1.0)
        db = 10.0 * torch.log10(mel.clamp_min(1e-10))
        if self.config.top_db is not None:
            peak = db.amax(dim=(-2, -1), keepdim=True)
            db = torch.maximum(db, peak - self.config.top_db)
        return db
