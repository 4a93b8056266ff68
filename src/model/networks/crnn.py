"""CRNN after Choi, Fazekas, Sandler and Cho (2016), "Convolutional recurrent neural networks
for music classification": a 2-D convnet summarises local time-frequency patterns, a GRU reads
the resulting sequence over time.

Faithful sizes (conf/model/crnn.yaml): 96 mel bins x 1366 frames (29.12 s at 12 kHz, hop 256) in, four conv
blocks of 64/128/128/128 filters pooled (2,2), (3,3), (4,4), (4,4) down to one frequency bin
and 14 time steps, two GRU layers of 32 units, 10 outputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class ConvBlock(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, pool: Sequence[int], dropout: float):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ELU(),
            nn.MaxPool2d(tuple(pool)),
            nn.Dropout(dropout),
        )


class CRNN(nn.Module):
    def __init__(
        self,
        n_mels: int,
        n_classes: int,
        channels: Sequence[int],
        pools: Sequence[Sequence[int]],
        gru_hidden: int,
        gru_layers: int,
        conv_dropout: float,
        dropout: float,
    ):
        super().__init__()
        if len(channels) != len(pools):
            raise ValueError("channels and pools need one entry per conv block")
        self.input_norm = nn.BatchNorm2d(n_mels)  # one statistic per mel bin
        widths = [1, *channels]
        self.convs = nn.Sequential(
            *(ConvBlock(widths[i], widths[i + 1], pools[i], conv_dropout) for i in range(len(channels)))
        )
        freq = n_mels
        for pool in pools:
            freq //= pool[0]
        if freq < 1:
            raise ValueError(f"pools {pools} reduce {n_mels} mel bins to nothing")
        self.gru = nn.GRU(channels[-1] * freq, gru_hidden, num_layers=gru_layers, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(gru_hidden, n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, 1, n_mels, frames) -> logits (batch, classes), embedding (batch, gru_hidden)."""
        x = self.input_norm(x.transpose(1, 2)).transpose(1, 2)
        x = self.convs(x)  # (batch, channels, freq, steps)
        x = x.flatten(1, 2).transpose(1, 2)  # (batch, steps, channels * freq)
        _, hidden = self.gru(x)
        embedding = hidden[-1]
        return self.head(self.dropout(embedding)), embedding
