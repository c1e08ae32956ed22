"""torchvision's MobileNetV2 with a 2-class GAP + linear head and optional local pretrained weights."""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.models import mobilenet_v2

from .common import GapLinearClassifier


class MobileNetV2(GapLinearClassifier):
    def __init__(
        self,
        num_classes: int = 2,
        width_mult: float = 1.0,
        dropout: float = 0.2,
        input_noise_std: float = 0.0,
        pretrained_path: str | None = None,
    ):
        backbone = mobilenet_v2(weights=None, width_mult=width_mult)
        if pretrained_path:
            _load_local_features(backbone, Path(pretrained_path))
        super().__init__(backbone.features, backbone.last_channel, num_classes, dropout, input_noise_std)


def _load_local_features(backbone: torch.nn.Module, path: Path) -> None:
    """Load a torchvision-format state_dict from disk (never from the network); the head is re-initialised."""
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad file
        raise ValueError(f"cannot read pretrained weights {path}: {e}") from e
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    if not features:
        raise ValueError(f"{path} holds no 'features.*' tensors: not a torchvision MobileNetV2 state_dict")
    try:
        backbone.load_state_dict(features, strict=False)
        missing = [k for k in backbone.state_dict() if k.startswith("features.") and k not in features]
    except RuntimeError as e:
        raise ValueError(f"{path} does not fit MobileNetV2 at this width: {e}") from e
    if missing:
        raise ValueError(f"{path} lacks {len(missing)} feature tensors, e.g. {missing[0]}")
