"""Training: networks, the LightningModule, runs tracked in MLflow, packaging."""

import data  # noqa: F401  (first: stops with one clear message if torchaudio cannot load)
