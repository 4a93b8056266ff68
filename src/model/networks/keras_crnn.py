"""The old project's Keras CRNN (Keras 1.1, Theano backend), rebuilt with Keras 1.1's own semantics
so its trained weights give the same outputs here.

Where Keras 1.1 differs from PyTorch's stock layers (checked against Keras 1.1.0's source):
- BatchNormalization: `running_std` holds the *variance*; inference is
  (x - mean) / sqrt(var + 1e-5) * gamma + beta. The input one normalises each of the 1440
  (padded) *time* steps, which fixes the input at 1366 frames (29.12 s at 12 kHz, hop 256).
- Convolution: Theano's conv2d flips kernels (a true convolution); the importer flips them
  for PyTorch's cross-correlation. 'same' is Theano's 'half' padding.
- GRU: gates use hard_sigmoid (clip(0.2 x + 0.5, 0, 1)), the reset gate multiplies the state
  *before* the recurrent matrix, and h = z * h_prev + (1 - z) * candidate. PyTorch's nn.GRU
  applies the reset gate after the matrix, so `KerasGRU` is written out here.
- Dense + sigmoid outputs: independent per genre; the old project divided them by their sum.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

KERAS_BN_EPSILON = 1e-5


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    return (0.2 * x + 0.5).clamp(0.0, 1.0)


class KerasGRU(nn.Module):
    """One GRU layer with Keras 1.1's equations; returns all states (batch, steps, hidden)."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.input_weight = nn.Parameter(torch.zeros(input_size, 3 * hidden_size))  # [W_z | W_r | W_h]
        self.recurrent_weight = nn.Parameter(torch.zeros(hidden_size, 3 * hidden_size))  # [U_z | U_r | U_h]
        self.bias = nn.Parameter(torch.zeros(3 * hidden_size))  # [b_z | b_r | b_h]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inputs = x @ self.input_weight + self.bias  # all steps at once
        u_z, u_r, u_h = self.recurrent_weight.split(self.hidden_size, dim=1)
        h = x.new_zeros(x.shape[0], self.hidden_size)
        states = []
        for step in inputs.unbind(dim=1):
            x_z, x_r, x_h = step.split(self.hidden_size, dim=1)
            z = hard_sigmoid(x_z + h @ u_z)
            r = hard_sigmoid(x_r + h @ u_r)
            candidate = torch.tanh(x_h + (r * h) @ u_h)
            h = z * h + (1 - z) * candidate
            states.append(h)
        return torch.stack(states, dim=1)


class KerasConvBlock(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, pool: Sequence[int]):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_channels, eps=KERAS_BN_EPSILON),
            nn.ELU(),
            nn.MaxPool2d(tuple(pool)),
        )


class KerasCRNN(nn.Module):
    """Input (batch, 1, 96, 1366) -> logits before the sigmoid (batch, 10), embedding (batch, 32)."""

    def __init__(
        self,
        n_mels: int,
        frames: int,
        time_padding: int,
        n_classes: int,
        channels: Sequence[int],
        pools: Sequence[Sequence[int]],
        gru_hidden: int,
    ):
        super().__init__()
        self.frames, self.time_padding = frames, time_padding
        self.input_norm = nn.BatchNorm2d(frames + 2 * time_padding, eps=KERAS_BN_EPSILON)  # one per time step
        widths = [1, *channels]
        self.blocks = nn.Sequential(*(KerasConvBlock(widths[i], widths[i + 1], pools[i]) for i in range(len(channels))))
        freq = n_mels
        for pool in pools:
            freq //= pool[0]
        self.gru1 = KerasGRU(channels[-1] * freq, gru_hidden)
        self.gru2 = KerasGRU(gru_hidden, gru_hidden)
        self.head = nn.Linear(gru_hidden, n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[-1] != self.frames:
            raise ValueError(
                f"this network only takes {self.frames}-frame inputs (29.12 s at 12 kHz, hop 256), got {x.shape[-1]}"
            )
        x = F.pad(x, (self.time_padding, self.time_padding))
        x = self.input_norm(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        x = self.blocks(x)  # (batch, channels, freq, steps)
        x = x.permute(0, 3, 1, 2).flatten(2)  # Keras Permute((3, 1, 2)) + Reshape: (batch, steps, channels * freq)
        embedding = self.gru2(self.gru1(x))[:, -1]
        return self.head(embedding), embedding
