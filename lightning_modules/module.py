"""The LightningModule: a helmet classifier built by architecture name, trained on logits."""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score
from torchvision.transforms import v2

from data.preprocessing import DEFAULT_INPUT_SIZE, PreprocessSpec

from .checkpoint import CheckpointError, load_classifier
from .distillation import Distillation
from .errors import ConfigError
from .models import build_model


def classification_metrics(num_classes: int, prefix: str) -> MetricCollection:
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "balanced_acc": MulticlassAccuracy(num_classes, average="macro"),  # mean per-class recall
            "f1": MulticlassF1Score(num_classes, average="macro"),
        },
        prefix=prefix,
    )


def batch_mixer(num_classes: int, mixup_alpha: float, cutmix_alpha: float) -> v2.Transform | None:
    if mixup_alpha < 0 or cutmix_alpha < 0:
        raise ConfigError(f"mixup_alpha and cutmix_alpha must be >= 0, got {mixup_alpha}, {cutmix_alpha}")
    mixers = ([v2.MixUp(alpha=mixup_alpha, num_classes=num_classes)] if mixup_alpha else []) + (
        [v2.CutMix(alpha=cutmix_alpha, num_classes=num_classes)] if cutmix_alpha else [])
    if not mixers:
        return None
    return mixers[0] if len(mixers) == 1 else v2.RandomChoice(mixers)


class HelmetClassifier(pl.LightningModule):
    def __init__(
        self,
        arch: str = "slim_mobilenet",
        arch_kwargs: dict[str, Any] | None = None,
        input_size: int = DEFAULT_INPUT_SIZE,
        lr: float = 6e-3,
        weight_decay: float = 1e-4,
        warmup_epochs: float = 1.0,
        label_smoothing: float = 0.05,
        class_weights: list[float] | None = None,
        init_checkpoint: str | None = None,
        mixup_alpha: float = 0.0,
        cutmix_alpha: float = 0.0,
        teacher_checkpoint: str | None = None,
        distill_weight: float = 0.5,
        distill_temperature: float = 2.0,
    ):
        """
        Args:
            arch: "slim_mobilenet" or "mobilenet_v2" (see lightning_modules.models).
            arch_kwargs: keyword arguments of that architecture (width_mult, blocks, pretrained_path, ...).
            input_size: square input side; linked to the data module's image_size by the CLI.
            class_weights: cross-entropy weights in label order (helmet, no_helmet); None = unweighted.
            init_checkpoint: start from the weights of one of this project's checkpoints (same arch and
                arch_kwargs), e.g. a run on the synthetic data before fine-tuning on real crops.
            mixup_alpha, cutmix_alpha: Beta(alpha, alpha) of batch-level MixUp / CutMix (torchvision
                transforms v2; one of the two, at random, on each batch when both are > 0); 0 = off.
            teacher_checkpoint: distil from this trained checkpoint of the project (any architecture and
                input size, same preprocessing otherwise); None = off. See lightning_modules.distillation.
            distill_weight, distill_temperature: the soft loss's share of the training loss, and the
                softmax temperature of both models' outputs in it.
        """
        super().__init__()
        self.save_hyperparameters()
        self.spec = PreprocessSpec(input_size=input_size)
        try:
            net = build_model(arch, num_classes=self.spec.num_classes, **(arch_kwargs or {}))
        except ValueError as e:  # unknown arch, bad arch_kwargs, unreadable pretrained weights
            raise ConfigError(f"model: {e}") from e
        # channels_last: 1.3-1.6x faster depthwise/pointwise convs on CPU (benchmarks/train_throughput.py)
        self.net = net.to(memory_format=torch.channels_last)
        if init_checkpoint:
            self._load_initial_weights(init_checkpoint, arch)
        weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        if weight is not None and weight.numel() != self.spec.num_classes:
            raise ConfigError(f"class_weights needs {self.spec.num_classes} values, got {class_weights}")
        self.loss = nn.CrossEntropyLoss(weight=weight, label_smoothing=label_smoothing)
        self.batch_mix = batch_mixer(self.spec.num_classes, mixup_alpha, cutmix_alpha)
        self.distillation = (Distillation(teacher_checkpoint, self.spec, distill_weight, distill_temperature)
                             if teacher_checkpoint else None)
        self.val_metrics = classification_metrics(self.spec.num_classes, "val/")
        self.test_metrics = classification_metrics(self.spec.num_classes, "test/")
        self.example_input_array = torch.zeros(1, 3, input_size, input_size)

    def _load_initial_weights(self, path: str, arch: str) -> None:
        source = load_classifier(path, expect_arch=arch)
        try:
            self.net.load_state_dict(source.model.state_dict())
        except RuntimeError as e:
            raise CheckpointError(f"init_checkpoint {path} was trained with {source.arch_kwargs}, which does not "
                                  f"fit this model: {str(e).splitlines()[0]}") from e

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.contiguous(memory_format=torch.channels_last))

    def training_step(self, batch, batch_idx):
        x, y = batch
        if self.batch_mix is not None:
            x, y = self.batch_mix(x, y)  # y becomes (N, classes) soft targets, which the loss accepts
        logits = self(x)
        loss = self.loss(logits, y)
        if self.distillation is not None:
            loss = self.distillation.loss(logits, x, hard_loss=loss)
        acc = (logits.argmax(1) == (y.argmax(1) if y.ndim == 2 else y)).float().mean()
        self.log_dict({"train/loss": loss, "train/acc": acc}, prog_bar=True, on_step=True, on_epoch=True)
        return loss

    def _eval_step(self, batch, metrics: MetricCollection, prefix: str):
        x, y = batch
        logits = self(x)
        self.log(f"{prefix}loss", self.loss(logits, y), prog_bar=True)
        metrics.update(logits, y)
        self.log_dict(metrics, prog_bar=True)

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch, self.val_metrics, "val/")

    def test_step(self, batch, batch_idx):
        self._eval_step(batch, self.test_metrics, "test/")

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = min(total - 1, int(total * self.hparams.warmup_epochs / max(1, self.trainer.max_epochs or 1)))

        def lr_factor(step: int) -> float:  # linear warm-up, then cosine to zero
            if step < warmup:
                return (step + 1) / (warmup + 1)
            return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["preprocess"] = self.spec.to_dict()
