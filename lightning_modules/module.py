"""The LightningModule: a helmet classifier built by architecture name, trained on logits."""

from __future__ import annotations

from typing import Any, Literal

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score
from torchvision.transforms import v2

from data.preprocessing import DEFAULT_INPUT_SIZE, PreprocessSpec

from .checkpoint import CheckpointError, LoadedClassifier, load_classifier
from .distillation import Distillation
from .errors import ConfigError
from .models import build_model
from .models.conventions import TORCHVISION
from .quantization import freeze_batch_norms, plain_state_dict, remove_rounding, round_weights_while_training


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
        features_lr: float | None = None,
        weight_decay: float = 1e-4,
        warmup_epochs: float = 1.0,
        label_smoothing: float = 0.05,
        class_weights: list[float] | Literal["balanced"] | None = None,
        init_checkpoint: str | None = None,
        mixup_alpha: float = 0.0,
        cutmix_alpha: float = 0.0,
        teacher_checkpoint: str | None = None,
        distill_weight: float = 0.5,
        distill_temperature: float = 2.0,
        quantization_aware: bool = False,
    ):
        """
        Args:
            arch: "slim_mobilenet" or "mobilenet_v2" (see lightning_modules.models).
            arch_kwargs: keyword arguments of that architecture (width_mult, blocks, pretrained_path, ...).
            input_size: square input side; linked to the data module's image_size by the CLI.
            lr, features_lr: peak learning rates of the head and of the feature extractor (None: ``lr`` for
                both); fine-tuning pretrained features usually wants the lower one there.
            class_weights: cross-entropy weights in label order (helmet, no_helmet); "balanced" = n / (classes *
                n_class) from the training split actually loaded (the mix of sources and any train_fraction);
                None = unweighted.
            init_checkpoint: start from the weights of one of this project's checkpoints (same arch and
                arch_kwargs), e.g. a run on the synthetic data before fine-tuning on real crops.
            mixup_alpha, cutmix_alpha: Beta(alpha, alpha) of batch-level MixUp / CutMix (torchvision
                transforms v2; one of the two, at random, on each batch when both are > 0); 0 = off.
            teacher_checkpoint: distil from this trained checkpoint of the project (any architecture and
                input size, same preprocessing otherwise); None = off. See lightning_modules.distillation.
            distill_weight, distill_temperature: the soft loss's share of the training loss, and the
                softmax temperature of both models' outputs in it.
            quantization_aware: train the network whose convolution weights are the int8 model's (folded with
                their batch norm, rounded per channel; batch-norm statistics frozen), usually a few epochs from a
                trained checkpoint. See lightning_modules.quantization.
        """
        super().__init__()
        self.save_hyperparameters()
        self.spec = PreprocessSpec(input_size=input_size)
        source = load_classifier(init_checkpoint, expect_arch=arch) if init_checkpoint else None
        arch_kwargs = dict(arch_kwargs or {})
        if source is not None:
            arch_kwargs["conventions"] = _conventions_of_start(arch_kwargs.get("conventions"), source)
        try:
            net = build_model(arch, num_classes=self.spec.num_classes, **arch_kwargs)
        except ValueError as e:  # unknown arch, bad arch_kwargs, unreadable pretrained weights
            raise ConfigError(f"model: {e}") from e
        # Stored resolved (e.g. "tf" because the weights were a Keras file), so every rebuild is this network.
        self.hparams["arch_kwargs"] = {**arch_kwargs, "conventions": net.conventions}
        # channels_last: 1.3-1.6x faster depthwise/pointwise convs on CPU (benchmarks/train_throughput.py)
        self.net = net.to(memory_format=torch.channels_last)
        if source is not None:
            self._load_initial_weights(source)
        if class_weights is not None and class_weights != "balanced" and len(class_weights) != self.spec.num_classes:
            raise ConfigError(f"class_weights needs {self.spec.num_classes} values or 'balanced', got {class_weights}")
        # Not persistent: checkpoints hold the model; the weights are recorded in metrics.json.
        fixed = None if class_weights in (None, "balanced") else torch.tensor(class_weights, dtype=torch.float32)
        self.register_buffer("class_weight", fixed, persistent=False)
        self.batch_mix = batch_mixer(self.spec.num_classes, mixup_alpha, cutmix_alpha)
        self.distillation = (Distillation(teacher_checkpoint, self.spec, distill_weight, distill_temperature)
                             if teacher_checkpoint else None)
        self.val_metrics = classification_metrics(self.spec.num_classes, "val/")
        self.test_metrics = classification_metrics(self.spec.num_classes, "test/")
        self.example_input_array = torch.zeros(1, 3, input_size, input_size)

    def _load_initial_weights(self, source: LoadedClassifier) -> None:
        try:
            self.net.load_state_dict(source.model.state_dict())
        except RuntimeError as e:
            raise CheckpointError(f"init_checkpoint {source.path} was trained with {source.arch_kwargs}, which does not "
                                  f"fit this model: {str(e).splitlines()[0]}") from e

    def setup(self, stage: str) -> None:
        if self.hparams.class_weights == "balanced" and self.class_weight is None:
            counts = torch.tensor(list(self.trainer.datamodule.class_counts("train").values()), dtype=torch.float32)
            if (counts == 0).any():
                raise ConfigError(f"class_weights 'balanced' needs every class in the training split, got {counts.tolist()}")
            self.class_weight = counts.sum() / (len(counts) * counts)

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        weight = None if self.class_weight is None else self.class_weight.to(logits.device)
        return F.cross_entropy(logits, target, weight=weight, label_smoothing=self.hparams.label_smoothing)

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
        # sync_dist: under DDP the loss logged (and a checkpoint kept by it) is the whole split's, not rank 0's share
        self.log(f"{prefix}loss", self.loss(logits, y), prog_bar=True, sync_dist=True)
        metrics.update(logits, y)
        self.log_dict(metrics, prog_bar=True)

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch, self.val_metrics, "val/")

    def test_step(self, batch, batch_idx):
        self._eval_step(batch, self.test_metrics, "test/")

    def configure_optimizers(self):
        features = list(self.net.features.parameters())
        in_features = {id(p) for p in features}
        head = [p for p in self.parameters() if id(p) not in in_features]
        features_lr = self.hparams.features_lr if self.hparams.features_lr is not None else self.hparams.lr
        optimizer = torch.optim.AdamW([{"params": features, "lr": features_lr}, {"params": head}],
                                      lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        total = max(2, int(self.trainer.estimated_stepping_batches))
        scheduler = warmup_cosine(optimizer, total, warmup=min(total - 1, self._warmup_steps(total)))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def _warmup_steps(self, total: int) -> int:
        """``warmup_epochs`` in optimizer steps: from the epoch budget, or from the loader for a run set in steps."""
        epochs = self.trainer.max_epochs
        if epochs and epochs > 0 and self.trainer.max_steps in (None, -1):
            return int(total * self.hparams.warmup_epochs / epochs)
        per_epoch = self.trainer.num_training_batches / max(1, self.trainer.accumulate_grad_batches)
        return int(self.hparams.warmup_epochs * per_epoch)

    def on_train_start(self) -> None:
        if self.hparams.quantization_aware:
            round_weights_while_training(self.net)

    def on_train_batch_start(self, batch, batch_idx) -> None:
        if self.hparams.quantization_aware:  # every batch: Lightning puts the model back in train mode after validation
            freeze_batch_norms(self.net)

    def on_train_end(self) -> None:
        remove_rounding(self.net)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["preprocess"] = self.spec.to_dict()
        checkpoint["state_dict"] = plain_state_dict(checkpoint["state_dict"], self.net, "net.")


def _conventions_of_start(asked: str | None, source: LoadedClassifier) -> str:
    """The conventions of a run started from ``source``: the checkpoint's own (a network keeps the arithmetic its
    weights learnt in); asking for others is an error."""
    trained_in = source.arch_kwargs.get("conventions") or TORCHVISION  # checkpoints from before the option
    if asked is not None and asked != trained_in:
        raise ConfigError(f"init_checkpoint {source.path} was trained in {trained_in} conventions, not {asked}: "
                          "leave model.arch_kwargs.conventions out, or start from a run in those conventions")
    return trained_in


def warmup_cosine(optimizer: torch.optim.Optimizer, total: int, warmup: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Linear warm-up over ``warmup`` steps (from lr / (warmup + 1)), then a cosine to zero at ``total``."""
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total - warmup))
    if warmup < 1:
        return cosine
    linear = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1.0 / (warmup + 1), total_iters=warmup)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [linear, cosine], milestones=[warmup])
