"""How a network may run, as names only: settings files are checked against these without
loading torch (model.runtime and model.precision act on them)."""

from __future__ import annotations

from typing import Literal

Backend = Literal["eager", "fused", "compiled"]
Precision = Literal["fp32", "bf16"]
PrecisionSetting = Literal["auto", "fp32", "bf16"]  # auto: bf16 only where model.precision's check allows
