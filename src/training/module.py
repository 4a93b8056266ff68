"""`GenreClassifier`: the LightningModule that trains any network of `model.networks`.

Training sees random windows of each clip; validation and test see every window of whole
clips and report clip accuracy (the mean of the window probabilities per clip, the headline
metric, computed by the same `model.predict` rules as the service), window accuracy, macro-F1
and per-class accuracy. For fine-tuning (`training.finetune`), the convolutional layers can stay
frozen for the first epochs and the body can learn at a fraction of the head's rate, or the
whole body can stay frozen (a head on a tagger's embedding).
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
import torchmetrics
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torchaudio import transforms as T

from model.artifact import Output
from model.networks import HEAD, build_network, conv_layers
from model.predict import song_means, window_probabilities


class GenreClassifier(L.LightningModule):
    def __init__(
        self,
        network: dict[str, Any],
        optimizer: dict[str, Any],
        labels: list[str],
        scheduler: dict[str, Any] | None,
        augment: dict[str, float],
        output: Output,
        finetune: dict[str, float],
    ):
        """`optimizer`/`scheduler` are Hydra `_partial_` specs (conf/model/*.yaml); the network
        gets one output per label. `output` is how its outputs become probabilities
        (model.predict.window_probabilities), which also sets the loss: cross-entropy for
        softmax, per-label binary cross-entropy for the old model's sigmoids. `finetune`:
        {freeze_conv_epochs, body_lr_scale, freeze_body} (conf/config.yaml)."""
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.labels = list(labels)
        self.network = build_network(network, len(self.labels))
        self.output: Output = output
        self.freeze_conv_epochs = int(finetune["freeze_conv_epochs"])
        self.body_lr_scale = float(finetune["body_lr_scale"])
        # auto: a network that keeps a tag head (training.finetune) keeps its body too, so the
        # tags and the embedding stay what the tagger learned; only the new head learns.
        self.freeze_body = finetune["freeze_body"] is True or (finetune["freeze_body"] == "auto" and "tags" in network)
        if getattr(self.network, "tag_head", None) is not None:
            self.network.tag_head.requires_grad_(False)  # the tags' meaning never moves
        self.mixup_alpha = float(augment["mixup_alpha"])
        self.masks = torch.nn.Sequential(
            *([T.FrequencyMasking(augment["freq_mask"], iid_masks=True)] if augment["freq_mask"] else []),
            *([T.TimeMasking(augment["time_mask"], iid_masks=True)] if augment["time_mask"] else []),
        )
        n = len(self.labels)
        self.train_acc = torchmetrics.classification.MulticlassAccuracy(n, average="micro")
        self.eval_metrics = torch.nn.ModuleDict({
            stage: torchmetrics.MetricCollection({
                "window_acc": torchmetrics.classification.MulticlassAccuracy(n, average="micro"),
                "clip_acc": torchmetrics.classification.MulticlassAccuracy(n, average="micro"),
                "macro_f1": torchmetrics.classification.MulticlassF1Score(n, average="macro"),
                "class_acc": torchmetrics.classification.MulticlassAccuracy(n, average="none"),
                "confusion": torchmetrics.classification.MulticlassConfusionMatrix(n),
            })
            for stage in ("val", "test")
        })  # fmt: skip
        # Clip confusion matrices of the last validation and test epochs (rows: true genre).
        self.confusion: dict[str, torch.Tensor] = {}

    @classmethod
    def from_config(cls, cfg: DictConfig, labels: list[str]) -> "GenreClassifier":
        """The module a composed config (conf/config.yaml) describes, with one output per label."""
        return instantiate(cfg.model, labels=labels, finetune=OmegaConf.to_container(cfg.finetune, resolve=True),
                           _recursive_=False, _convert_="all")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logits (a network also gives its embedding, and tag logits beside a genre head)."""
        return self.network(x)[0]

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        x = self.masks(x)
        if self.mixup_alpha > 0:
            lam = float(torch.distributions.Beta(self.mixup_alpha, self.mixup_alpha).sample())
            perm = torch.randperm(len(x), device=x.device)
            logits = self(lam * x + (1 - lam) * x[perm])
            loss = lam * self.loss(logits, y) + (1 - lam) * self.loss(logits, y[perm])
        else:
            logits = self(x)
            loss = self.loss(logits, y)
        self.train_acc(logits, y)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(x))
        self.log("train_window_acc", self.train_acc, on_step=False, on_epoch=True, batch_size=len(x))
        return loss

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.output == "sigmoid_sum":
            return F.binary_cross_entropy_with_logits(logits, F.one_hot(y, len(self.labels)).to(logits.dtype))
        return F.cross_entropy(logits, y)

    def on_train_epoch_start(self) -> None:
        """The convolutional layers learn nothing, batch-norm statistics included, during the
        first `freeze_conv_epochs` epochs; with `freeze_body`, nothing but the head ever does."""
        if self.freeze_body:
            for name, part in self.network.named_children():
                if name != HEAD.rstrip("."):
                    part.requires_grad_(False)
                    part.eval()  # Lightning restores training mode after each validation
            return
        frozen = self.current_epoch < self.freeze_conv_epochs
        for layer in conv_layers(self.network):
            layer.requires_grad_(not frozen)
            layer.train(not frozen)  # Lightning restores this mode after each validation

    def _eval_step(self, batch: dict[str, torch.Tensor], stage: str) -> None:
        logits = self(batch["x"])
        probs = window_probabilities(logits, self.output)
        clip_probs = song_means(probs, batch["clip_index"], len(batch["clip_y"]))
        metrics = self.eval_metrics[stage]
        metrics["window_acc"].update(probs, batch["y"])
        for name in ("clip_acc", "macro_f1", "class_acc", "confusion"):
            metrics[name].update(clip_probs, batch["clip_y"])
        self.log(f"{stage}_loss", self.loss(logits, batch["y"]), batch_size=len(batch["y"]))

    def _eval_epoch_end(self, stage: str) -> None:
        results = self.eval_metrics[stage].compute()
        for name in ("window_acc", "clip_acc", "macro_f1"):
            self.log(f"{stage}_{name}", results[name], prog_bar=name == "clip_acc")
        for label, value in zip(self.labels, results["class_acc"]):
            self.log(f"{stage}_acc_{label}", value)
        self.confusion[stage] = results["confusion"].cpu()
        self.eval_metrics[stage].reset()

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def configure_optimizers(self):
        """The head at the optimizer's rate, the rest of the network at `body_lr_scale` of it."""
        head = [p for name, p in self.network.named_parameters() if name.startswith(HEAD)]
        body = [p for name, p in self.network.named_parameters() if not name.startswith(HEAD)]
        lr = float(self.hparams.optimizer["lr"])
        optimizer = instantiate(self.hparams.optimizer)([{"params": body, "lr": lr * self.body_lr_scale}, {"params": head}])
        if not self.hparams.scheduler:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": instantiate(self.hparams.scheduler)(optimizer)}
