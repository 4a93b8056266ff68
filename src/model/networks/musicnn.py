"""MSD-musicnn (Pons & Serra 2019, "musicnn: pre-trained convolutional neural networks for music
audio tagging"), rebuilt in PyTorch so its Million Song Dataset weights run here unchanged.

Input: 3 s log-compressed mel patches, (batch, 1, 96 mel bands, 187 frames) as every window of
this project; the original's layout is (batch, time, mel), so the network transposes first and
then mirrors TensorFlow's NHWC layers in NCHW, with TensorFlow's defaults where they differ
from PyTorch's (checked against musicnn 0.1.0's models.py):
- batch normalisation with epsilon 1e-3, after the ReLU of each convolution or dense layer;
- 'same' padding of even kernels puts the extra frame after (63 before, 64 after for 128);
- the back-end's pooled features interleave per channel: [max_0, mean_0, max_1, mean_1, ...].

Front-end: timbral convolutions (7 frames x 38 and x 67 mel bands, 204 filters) and temporal
ones (128, 64, 32 frames x 1 band, 51 filters), each max-pooled over frequency; mid-end: three
1-D convolutions over time with residual connections; back-end: max and mean over time, dense
1506 -> 200 (the embedding, after its batch norm) -> `head` (50 MSD tags, or a genre head with
the tag head beside it).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

TF_BN_EPSILON = 1e-3


def _norm(channels: int, dims: int = 2) -> nn.Module:
    return (nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d)(channels, eps=TF_BN_EPSILON)


class FrequencyPooledConv(nn.Module):
    """Conv over (time, mel) -> ReLU -> batch norm -> max over the mel axis: (batch, filters, time)."""

    def __init__(self, filters: int, time: int, mel: int):
        super().__init__()
        before = (time - 1) // 2  # 'same' in time, TensorFlow's way; 'valid' across the mel bands
        self.pad = (0, 0, before, time - 1 - before)
        self.conv = nn.Conv2d(1, filters, (time, mel))
        self.norm = _norm(filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(F.relu(self.conv(F.pad(x, self.pad)))).amax(dim=3)


class TimeConv(nn.Module):
    """Mid-end layer: 1-D conv over time (7 frames, 'same'), ReLU, batch norm."""

    def __init__(self, channels: int, filters: int):
        super().__init__()
        self.conv = nn.Conv1d(channels, filters, 7, padding=3)
        self.norm = _norm(filters, dims=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(F.relu(self.conv(x)))


class Musicnn(nn.Module):
    """(batch, 1, n_mels, frames) -> (logits of `head`, 200-float embedding[, tag logits])."""

    channels_last = False  # model.runtime: its front-end runs fastest in the default layout

    def __init__(self, n_classes: int, n_mels: int = 96, frames: int = 187, timbral_filters: int = 204,
                 timbral_bands: Sequence[float] = (0.4, 0.7), temporal_filters: int = 51,
                 temporal_frames: Sequence[int] = (128, 64, 32), midend_filters: int = 64, embedding: int = 200,
                 dropout: float = 0.5, tags: Sequence[str] | None = None):
        """`tags`: the labels of a tag head kept beside `head` (a genre head fine-tuned on
        MSD-musicnn keeps its 50 tags: training.finetune); forward then also returns its logits."""
        super().__init__()
        self.frames = frames
        self.input_norm = _norm(1)
        self.frontend = nn.ModuleList(
            [FrequencyPooledConv(timbral_filters, 7, int(share * n_mels)) for share in timbral_bands]
            + [FrequencyPooledConv(temporal_filters, length, 1) for length in temporal_frames])
        width = timbral_filters * len(timbral_bands) + temporal_filters * len(temporal_frames)
        self.midend = nn.ModuleList([TimeConv(width, midend_filters)]
                                    + [TimeConv(midend_filters, midend_filters) for _ in range(2)])
        pooled = 2 * (width + 3 * midend_filters)
        self.pooled_norm = _norm(pooled, dims=1)
        self.dense = nn.Sequential(nn.Dropout(dropout), nn.Linear(pooled, embedding), nn.ReLU(), _norm(embedding, dims=1))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(embedding, n_classes)
        self.tag_head = nn.Linear(embedding, len(tags)) if tags else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.input_norm(x.transpose(2, 3))  # (batch, 1, time, mel), the original's layout
        front = torch.cat([branch(x) for branch in self.frontend], dim=1)  # (batch, 561, time)
        layers = [front, self.midend[0](front)]
        for conv in self.midend[1:]:
            layers.append(conv(layers[-1]) + layers[-1])  # residual
        features = torch.cat(layers, dim=1)  # (batch, 753, time)
        pooled = torch.stack([features.amax(dim=2), features.mean(dim=2)], dim=2).flatten(1)
        embedding = self.dense(self.pooled_norm(pooled))
        features = self.dropout(embedding)
        if self.tag_head is None:
            return self.head(features), embedding
        return self.head(features), embedding, self.tag_head(features)
