"""A small 2-D CNN with global pooling: the cheap baseline the CRNN has to beat."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class ConvPoolNet(nn.Module):
    def __init__(self, n_mels: int, n_classes: int, channels: Sequence[int], dropout: float):
        super().__init__()
        layers: list[nn.Module] = [nn.BatchNorm2d(1)]
        widths = [1, *channels]
        for i in range(len(channels)):
            layers += [
                nn.Conv2d(widths[i], widths[i + 1], kernel_size=3, padding=1),
                nn.BatchNorm2d(widths[i + 1]),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * channels[-1], n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, 1, n_mels, frames) -> logits, embedding (mean and max over time-frequency)."""
        x = self.features(x)
        embedding = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)
        return self.head(self.dropout(embedding)), embedding
