"""Pieces shared by both architectures: a GAP + linear head over a conv feature extractor."""

from __future__ import annotations

import torch
from torch import nn

# ImageNet statistics: what torchvision's pretrained weights expect; harmless for training from scratch.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class GaussianNoise(nn.Module):
    """Adds N(0, std) to the input while training; the identity in eval mode (and in every export)."""

    def __init__(self, std: float = 0.0):
        super().__init__()
        if std < 0:
            raise ValueError(f"noise std must be >= 0, got {std}")
        self.std = float(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.std > 0:
            # Drawing noise in a channels_last layout is ~8x slower on CPU than in the default one.
            return x + torch.randn_like(x, memory_format=torch.contiguous_format) * self.std
        return x


class Normalize(nn.Module):
    """(x - mean) / std inside the model, so every exported model takes raw RGB scaled to [0, 1]."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("inv_std", 1.0 / torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) * self.inv_std


class GapLinearClassifier(nn.Module):
    """float RGB NCHW in [0, 1] -> noise (train only) -> normalise -> features -> GAP -> dropout -> linear -> logits.

    The head is global average pooling followed by exactly one linear layer, so Grad-CAM at the
    last feature layer equals CAM and can be computed gradient-free on the int8 model.
    """

    def __init__(self, features: nn.Sequential, feature_channels: int, num_classes: int = 2,
                 dropout: float = 0.2, input_noise_std: float = 0.0, normalize: Normalize | None = None):
        super().__init__()
        self.noise = GaussianNoise(input_noise_std)
        self.normalize = normalize or Normalize()
        self.features = features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(feature_channels, num_classes)
        for m in self.modules():  # in-place activations corrupt hooked activations (Grad-CAM)
            if isinstance(m, (nn.ReLU, nn.ReLU6)):
                m.inplace = False

    @property
    def cam_layer(self) -> nn.Module:
        """The last conv block: where Grad-CAM is taken."""
        return self.features[-1]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(self.normalize(self.noise(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.flatten(self.pool(self.forward_features(x)), 1)
        return self.classifier(self.dropout(pooled))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
