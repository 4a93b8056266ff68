"""The packaged-model format: weights plus everything needed to use them.

A folder with `weights.pt` (the network's state dict, loaded with `weights_only=True`) and
`model.json` (network config, spectrogram and window settings, label list, how outputs become
probabilities, and provenance: metrics, MLflow run id). The service and the CLI rebuild the
exact network and the exact features from it, so they can never disagree with training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from data.features import SpectrogramConfig
from data.windows import WindowConfig
from model.networks import build_network

WEIGHTS, METADATA = "weights.pt", "model.json"
# softmax: a classifier trained here. sigmoid_sum: independent sigmoids divided by their sum per
# window (the old Keras model). sigmoid: independent sigmoids, a multi-label tagger whose labels
# are tags (MSD-musicnn's 50 Last.fm tags).
Output = Literal["softmax", "sigmoid_sum", "sigmoid"]
# Said wherever a model trained on data=synthetic answers (the CLI, the JSON, the page).
GENERATED_DATA = "trained on generated tones (data=synthetic), not on music: its genres mean nothing for real songs"


@dataclass
class ModelArtifact:
    network_config: dict[str, Any]
    spectrogram: SpectrogramConfig
    windows: WindowConfig
    labels: list[str]
    state_dict: dict[str, torch.Tensor]
    output: Output
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def caveat(self) -> str | None:
        """What a person should know about this model's answers, if anything."""
        return self.info.get("caveat")

    @property
    def tags(self) -> list[str]:
        """What the network's tag outputs mean: a tagger's own labels, or the tags a genre head
        was trained beside (`tags` of its network config, see `training.finetune`); [] for a
        network with genres only."""
        if self.output == "sigmoid":
            return self.labels
        return list(self.network_config.get("tags", []))

    def build_network(self) -> nn.Module:
        """The network in eval mode; raises if the weights do not fit the config."""
        network = build_network(self.network_config, len(self.labels))
        network.load_state_dict(self.state_dict, strict=True)
        return network.eval()

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.state_dict, folder / WEIGHTS)
        metadata = {
            "network": self.network_config, "spectrogram": self.spectrogram.model_dump(),
            "windows": self.windows.model_dump(), "labels": self.labels, "output": self.output, "info": self.info,
        }
        (folder / METADATA).write_text(json.dumps(metadata, indent=2))

    @classmethod
    def load(cls, folder: str | Path) -> "ModelArtifact":
        folder = Path(folder)
        metadata = json.loads((folder / METADATA).read_text())
        return cls(
            network_config=metadata["network"],
            spectrogram=SpectrogramConfig.model_validate(metadata["spectrogram"]),
            windows=WindowConfig.model_validate(metadata["windows"]),
            labels=list(metadata["labels"]),
            state_dict=torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True),
            output=metadata["output"],
            info=metadata["info"],
        )

    @classmethod
    def from_checkpoint(cls, path: str | Path, info: dict[str, Any] | None = None) -> "ModelArtifact":
        """From a Lightning checkpoint of `training.module.GenreClassifier` trained with
        `data.datamodule.FolderDataModule` (loaded without pickle): the network and labels from
        the module's hyperparameters, the features from the data module's."""
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        network, data = checkpoint["hyper_parameters"], checkpoint["datamodule_hyper_parameters"]
        prefix = "network."
        state = {k[len(prefix):]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}
        artifact = cls(
            network_config=dict(network["network"]),
            spectrogram=SpectrogramConfig.model_validate(dict(data["spectrogram"])),
            windows=WindowConfig.model_validate(dict(data["windows"])),
            labels=list(network["labels"]),
            state_dict=state,
            output=network["output"],
            info={**({"caveat": GENERATED_DATA} if data.get("synthetic") else {}), **(info or {})},
        )
        artifact.build_network()  # refuse a checkpoint whose weights do not load
        return artifact
