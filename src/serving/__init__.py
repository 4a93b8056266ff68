"""Serving: the BentoML service, recommendation and the command line."""

from data import require_torchaudio

require_torchaudio()  # first: one clear message if torchaudio cannot load
