"""Serving: the BentoML service, recommendation and the command line."""

import data  # noqa: F401  (first: stops with one clear message if torchaudio cannot load)
