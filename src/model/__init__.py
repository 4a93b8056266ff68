"""The model: networks, the packaged-model format, the inference runtime, window -> song
prediction and the bf16 check. `training`, `library` and `serving` stand on it; it stands on
`data`. Modules that need torch import it themselves: `model.song` and `model.choices` stay
light, so answers read from a library never load torch.

The names around a network, from the weights outwards:

- `GenreClassifier` (training.module): the LightningModule that trains a network and logs its
  metrics; packaging keeps only the network.
- `InferenceNetwork` (model.runtime): a trained network rewritten for inference (batch norm
  folded, optionally compiled, fp32 or bf16): windows -> logits and embeddings.
- `WindowClassifier` (model.predict): an `InferenceNetwork` with the model's output rule and a
  batch size: any stack of windows -> `WindowOutputs` (probabilities, embeddings).
- `SongAnalyzer` (model.predict): the per-song ends, no network: a file -> its windows, and
  window outputs -> the song's answer (`SongPrediction`, model.song).
- `GenrePredictor` (model.predict): `SongAnalyzer` + `WindowClassifier` in one process: what the
  CLI, the library's engines (one per Ray actor too) and the checks call.
- `GenreNetwork` (serving.service): the BentoML service holding a `WindowClassifier` behind one
  batchable API, so concurrent requests share forward passes.
"""
