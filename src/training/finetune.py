"""Start a run from a trained model (`init_from=`): a packaged BentoML model or a checkpoint.

    python -m training experiment=finetune data.root=DIR init_from=genre-crnn-keras:latest

The starting model brings its network, its spectrogram and window settings and its output rule,
which replace the composed config before anything is built, so the data are computed exactly
as the network was trained on (the old Keras model's cut included). Its weights are loaded
whole when its labels equal the data's; otherwise every layer but the head, which starts new.

A tagger (MSD-musicnn: output rule "sigmoid", its labels tags) becomes a genre classifier that
keeps its tags: its head moves to the network's `tag_head`, its labels into the network config's
`tags`, a new softmax head learns the data's labels, so one pass answers genres, tags and the
embedding (and `finetune.freeze_body: auto` keeps the body frozen, so the tags stay exact).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bentoml
from omegaconf import DictConfig, open_dict
from torch import nn

from model.artifact import ModelArtifact
from model.networks import HEAD


@dataclass
class StartingModel:
    artifact: ModelArtifact
    source: str  # what it was loaded from: "bentoml:genre-crnn-keras:<version>" or "checkpoint:<path>"


def load_starting_model(init_from: str) -> StartingModel:
    """`init_from` as a checkpoint file (a path ending in .ckpt) or a BentoML model tag."""
    if init_from.endswith(".ckpt"):
        path = Path(init_from)
        if not path.is_file():
            raise FileNotFoundError(f"init_from={init_from}: no such checkpoint")
        try:
            artifact = ModelArtifact.from_checkpoint(path)
        except Exception as exc:  # any unreadable checkpoint: say which and why
            raise ValueError(f"init_from={init_from}: not a checkpoint of this project ({exc})") from None
        return StartingModel(artifact, f"checkpoint:{path.resolve()}")
    try:
        model = bentoml.models.get(init_from)
    except (bentoml.exceptions.NotFound, ValueError) as exc:
        raise FileNotFoundError(
            f"init_from={init_from}: neither a .ckpt file nor a model in the BentoML store "
            f"(`bentoml models list` shows them; python -m training.import_keras imports the old model): {exc}"
        ) from None
    return StartingModel(ModelArtifact.load(model.path), f"bentoml:{model.tag}")


def adopt_settings(cfg: DictConfig, start: StartingModel) -> None:
    """The starting model's network, features, windows and output rule, in place of `cfg`'s."""
    artifact = start.artifact
    tagger = artifact.output == "sigmoid"
    with open_dict(cfg):
        cfg.features.spectrogram = artifact.spectrogram.model_dump()
        cfg.features.windows = artifact.windows.model_dump()
        cfg.model.network = {**artifact.network_config, **({"tags": artifact.labels} if tagger else {})}
        cfg.model.output = "softmax" if tagger else artifact.output


def load_weights(network: nn.Module, start: StartingModel, labels: list[str]) -> bool:
    """The starting weights into `network` (built for `labels`); True when the head was kept
    (same labels, same order), False when only the body was loaded and the head is new."""
    state = start.artifact.state_dict
    if start.artifact.output == "sigmoid":  # a tagger's head becomes the tag head beside the new one
        state = {f"tag_{k}" if k.startswith(HEAD) else k: v for k, v in state.items()}
    elif start.artifact.labels == labels:
        network.load_state_dict(state, strict=True)
        return True
    body = {k: v for k, v in state.items() if not k.startswith(HEAD)}
    result = network.load_state_dict(body, strict=False)
    if result.unexpected_keys or any(not k.startswith(HEAD) for k in result.missing_keys):
        raise ValueError(f"the weights of {start.source} do not fit its network: "
                         f"missing {result.missing_keys}, unexpected {result.unexpected_keys}")
    return False
