"""Training: networks, the LightningModule, runs tracked in MLflow, packaging."""

from data import require_torchaudio

require_torchaudio()  # first: one clear message if torchaudio cannot load
