"""The inference runtime: faster inference, same answers, a trained network rewritten for the CPU.

- Each Conv2d followed by BatchNorm2d becomes one Conv2d with the normalisation folded into
  its weights and bias (exact up to float rounding).
- ELU (or ReLU) followed by MaxPool2d becomes MaxPool2d then ELU: max-pooling commutes with
  any non-decreasing function, so the result is identical and ELU runs on 4-16x fewer values.
- Dropout (a no-op in eval mode) is dropped; weights and inputs go channels-last, the layout
  oneDNN's convolutions run fastest in, unless the network says otherwise (`channels_last =
  False`: MSD-musicnn, whose one-channel convolutions across 38 and 67 mel bands run about 1.6x
  slower that way).

Measured by benchmarks/inference.py: the eager CRNN reaches about a quarter of this machine's
fp32 matrix-product rate, the rewritten one about half. "compiled" adds torch.compile (exact,
tens of seconds of warm-up); "bf16" runs under bfloat16 autocast (not exact: same top genre,
probabilities within about 1e-3).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from model.choices import Backend, Precision


def fold_batch_norm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """One convolution computing bn(conv(x)) with the batch norm's running statistics."""
    fused = copy.deepcopy(conv)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.weight = nn.Parameter(conv.weight * scale[:, None, None, None])
    fused.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias)
    return fused


def _rewrite(layers: list[nn.Module]) -> list[nn.Module]:
    out: list[nn.Module] = []
    for layer in layers:
        if isinstance(layer, nn.Dropout):
            continue
        previous = out[-1] if out else None
        if isinstance(layer, nn.BatchNorm2d) and isinstance(previous, nn.Conv2d):
            out[-1] = fold_batch_norm(previous, layer)
        elif isinstance(layer, nn.MaxPool2d) and isinstance(previous, (nn.ELU, nn.ReLU)):
            out[-1:] = [layer, previous]
        else:
            out.append(layer)
    return out


def fuse(network: nn.Module) -> nn.Module:
    """A copy of `network` (in eval mode) with every nn.Sequential rewritten as above."""
    fused = copy.deepcopy(network).eval()
    for module in fused.modules():
        if isinstance(module, nn.Sequential):
            layers = _rewrite(list(module))
            for name in list(module._modules):
                del module._modules[name]
            for i, layer in enumerate(layers):
                module.add_module(str(i), layer)
    return fused.to(memory_format=torch.channels_last) if channels_last(fused) else fused


def channels_last(network: nn.Module) -> bool:
    return getattr(network, "channels_last", True)


class InferenceNetwork(nn.Module):
    """Wraps a network for prediction: `forward(x)` -> (logits, embedding[, tag logits]) in float32."""

    def __init__(self, network: nn.Module, backend: Backend, precision: Precision):
        super().__init__()
        self.backend, self.precision = backend, precision
        network = network.eval()
        self.network = network if backend == "eager" else fuse(network)
        self._run = torch.compile(self.network) if backend == "compiled" else self.network

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.backend != "eager" and channels_last(self.network):
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            outputs = self._run(x)
        return tuple(output.float() for output in outputs)
