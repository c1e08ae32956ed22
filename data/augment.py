"""Training augmentation, built from a YAML-friendly config with torchvision transforms v2.

Defaults cover the original tutorial's set (rotation, shear, zoom, flip, brightness, channel
shift) plus Gaussian noise. Everything runs on uint8 CHW tensors and ends in float [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.transforms import v2


@dataclass
class AugmentConfig:
    enabled: bool = True
    rotation_degrees: float = 10.0
    shear_degrees: float = 5.0
    zoom: tuple[float, float] = (0.9, 1.1)
    translate: float = 0.1
    hflip: bool = True
    brightness: tuple[float, float] = (0.5, 1.3)
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.0
    channel_shift: float = 0.05
    noise_sigma: float = 0.03
    noise_p: float = 0.5


class RandomChannelShift(torch.nn.Module):
    """Adds an independent random offset in [-shift, shift] to each channel of a float image in [0, 1]."""

    def __init__(self, shift: float):
        super().__init__()
        self.shift = shift

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        offset = (torch.rand(img.shape[-3], 1, 1) * 2 - 1) * self.shift
        return (img + offset).clamp_(0.0, 1.0)


def build_transforms(cfg: AugmentConfig | None, train: bool) -> v2.Compose:
    to_float = v2.ToDtype(torch.float32, scale=True)
    if not train or cfg is None or not cfg.enabled:
        return v2.Compose([to_float])
    steps: list[torch.nn.Module] = [
        v2.RandomAffine(
            degrees=cfg.rotation_degrees,
            translate=(cfg.translate, cfg.translate),
            scale=tuple(cfg.zoom),
            shear=cfg.shear_degrees,
            interpolation=v2.InterpolationMode.BILINEAR,
        ),
    ]
    if cfg.hflip:
        steps.append(v2.RandomHorizontalFlip())
    steps += [
        v2.ColorJitter(brightness=tuple(cfg.brightness), contrast=cfg.contrast,
                       saturation=cfg.saturation, hue=cfg.hue),
        to_float,
    ]
    if cfg.channel_shift > 0:
        steps.append(RandomChannelShift(cfg.channel_shift))
    if cfg.noise_sigma > 0 and cfg.noise_p > 0:
        steps.append(v2.RandomApply([v2.GaussianNoise(sigma=cfg.noise_sigma, clip=True)], p=cfg.noise_p))
    return v2.Compose(steps)
