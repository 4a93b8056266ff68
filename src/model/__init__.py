"""The model: networks, the packaged-model format, the inference runtime, window -> song
prediction and the bf16 check. `training` and `serving` both stand on it; it stands on `data`."""

from data import require_torchaudio

require_torchaudio()  # first: one clear message if torchaudio cannot load
