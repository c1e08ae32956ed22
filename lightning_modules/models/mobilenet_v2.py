"""torchvision's MobileNetV2 with a 2-class GAP + linear head, optionally starting from ImageNet features.

ImageNet weights come through torchvision's own weights API (``weights="IMAGENET1K_V2"``): found in the
torch hub cache (``$TORCH_HOME/hub/checkpoints/``) when present, downloaded by torchvision only when asked
for and missing. ``pretrained_path`` loads a local file instead: a torchvision-format state_dict, or a Keras
applications MobileNetV2 weights ``.h5`` (any alpha; see ``keras_weights``). Only the feature extractor is
loaded; the 2-class head starts fresh.

``conventions`` (``torchvision`` or ``tf``, see ``conventions``) is the numerical convention the network runs
in; left out, it follows the weights: ``tf`` for a Keras file, ``torchvision`` otherwise. The resolved value
is what a checkpoint stores, so every later rebuild is the same network.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import torch
from torchvision.models import MobileNet_V2_Weights, mobilenet_v2

from data.errors import RuntimeUnavailableError

from .common import GapLinearClassifier
from .conventions import TORCHVISION, apply_conventions, check_conventions, input_normalization
from .keras_weights import is_hdf5, read_keras_mobilenet_v2
from .notes import note

# Options that only say where the starting weights come from: a trained checkpoint never needs them again.
WEIGHT_SOURCES = ("weights", "pretrained_path")


class MobileNetV2(GapLinearClassifier):
    def __init__(
        self,
        num_classes: int = 2,
        width_mult: float = 1.0,
        dropout: float = 0.2,
        input_noise_std: float = 0.0,
        weights: str | None = None,
        pretrained_path: str | None = None,
        conventions: str | None = None,
    ):
        if weights and pretrained_path:
            raise ValueError("give either weights (torchvision's ImageNet weights) or pretrained_path, not both")
        if conventions is not None:
            check_conventions(conventions)
        backbone = mobilenet_v2(weights=None, width_mult=width_mult)
        trained_in = TORCHVISION
        if weights:
            _load_features(backbone, imagenet_state_dict(weights, width_mult), f"torchvision {weights}")
        elif pretrained_path and _is_keras_file(Path(pretrained_path)):
            trained_in = _load_keras(backbone, Path(pretrained_path), width_mult)
        elif pretrained_path:
            _load_features(backbone, _read_local(Path(pretrained_path)), str(pretrained_path))
        if conventions is not None and conventions != trained_in and (weights or pretrained_path):
            note(f"the starting weights were trained in {trained_in} conventions; running them in {conventions} "
                 "conventions, as asked")
        self.conventions = conventions or trained_in
        super().__init__(apply_conventions(backbone.features, self.conventions), backbone.last_channel, num_classes,
                         dropout, input_noise_std, normalize=input_normalization(self.conventions))


def imagenet_cache_path(weights: MobileNet_V2_Weights) -> Path:
    """Where torchvision looks for (and downloads) the weights file: the torch hub cache."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name


def imagenet_state_dict(name: str, width_mult: float = 1.0) -> dict:
    """torchvision's ImageNet state_dict for MobileNetV2 ``name`` (e.g. IMAGENET1K_V2), from the hub cache,
    downloading it only when it is missing. Offline and missing: one line naming the file and the cache path."""
    try:
        weights = MobileNet_V2_Weights[name]
    except KeyError:
        raise ValueError(f"unknown MobileNetV2 weights {name!r}; choose one of "
                         f"{[w.name for w in MobileNet_V2_Weights]}") from None
    if width_mult != 1.0:
        raise ValueError(f"torchvision's {name} weights are for width_mult 1.0, not {width_mult}")
    cached = imagenet_cache_path(weights)
    try:
        return weights.get_state_dict(progress=False, check_hash=True, weights_only=True)
    except (OSError, RuntimeError) as e:  # URLError is an OSError; a bad hash is a RuntimeError
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise RuntimeUnavailableError(
            f"ImageNet weights {name}: {cached.name} is not in the torch hub cache and could not be downloaded "
            f"({reason}); download {weights.url} and put it at {cached}") from e


def _is_keras_file(path: Path) -> bool:
    return path.suffix.lower() in (".h5", ".hdf5", ".keras") or is_hdf5(path)


def _load_keras(backbone: torch.nn.Module, path: Path, width_mult: float) -> str:
    """Load a Keras MobileNetV2 weights file's features into ``backbone``; returns the conventions they need."""
    keras = read_keras_mobilenet_v2(path)
    if keras.alpha != width_mult:
        raise ValueError(f"{path} holds MobileNetV2 alpha {keras.alpha} (read off its tensor shapes), but the model has "
                         f"width_mult {width_mult}: set --model.arch_kwargs.width_mult={keras.alpha} or use the file "
                         f"for alpha {width_mult}")
    if keras.dropped:
        note(f"{path.name}: ImageNet classifier {', '.join(keras.dropped)} dropped; the 2-class head starts fresh")
    backbone.features.load_state_dict({k.removeprefix("features."): v for k, v in keras.state_dict.items()})
    return keras.conventions


def _read_local(path: Path) -> dict:
    if not path.is_file():
        raise ValueError(f"pretrained weights not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad file
        raise ValueError(f"cannot read pretrained weights {path}: {e}") from e
    return state["state_dict"] if isinstance(state, dict) and "state_dict" in state else state


def _load_features(backbone: torch.nn.Module, state: dict, source: str) -> None:
    """Load the ``features.*`` tensors of a torchvision MobileNetV2 state_dict; the head is re-initialised."""
    features = {k: v for k, v in state.items() if k.startswith("features.")} if isinstance(state, dict) else {}
    if not features:
        raise ValueError(f"{source} holds no 'features.*' tensors: not a torchvision MobileNetV2 state_dict")
    try:
        backbone.load_state_dict(features, strict=False)
    except RuntimeError as e:
        raise ValueError(f"{source} does not fit MobileNetV2 at this width: {e}") from e
    missing = [k for k in backbone.state_dict() if k.startswith("features.") and k not in features]
    if missing:
        raise ValueError(f"{source} lacks {len(missing)} feature tensors, e.g. {missing[0]}")
