"""Which layer a map is taken at: the names a user can give ``--layer``, and each model's default.

Layers are named by module path inside the classifier, ``features.0`` ... ``features.N`` (``features.N`` is the
last feature layer, the GAP input, where Grad-CAM equals the exact CAM the int8 model gives). An earlier layer
gives a finer map: at 96 px the slim model's last layer is 6x6 (16-pixel cells), ``features.5`` 12x12.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from data.errors import ConfigError
from lightning_modules.models.common import GapLinearClassifier

from .geometry import MapGeometry, layer_geometry

# The default map of each architecture: (method, output stride of its layer: the last layer at that stride). Not
# listed: Grad-CAM at the last layer, the map every runtime computes exactly (PyTorch, the SavedModel, the int8 CAM),
# which keeps the default run the cross-runtime parity proof. benchmarks.explain_quality's rule picks HiResCAM at
# features.3 as the slim model's most faithful gradient map (docs/results.md, section 9): --layer features.3
# --method hirescam, compared with the int8 model through occlusion.
DEFAULT_MAP: dict[str, tuple[str, int]] = {}
MIN_CELLS = 2  # a 1x1 map says nothing about where


@dataclass(frozen=True)
class Layer:
    name: str            # "features.5"
    module: nn.Module
    geometry: MapGeometry  # the map's cells at the model's input size, and where they sit
    last: bool           # the GAP input: Grad-CAM there is the exact CAM of every runtime


def default_method(arch: str) -> str:
    return DEFAULT_MAP.get(arch, ("gradcam", None))[0]


def layer_names(model: GapLinearClassifier) -> list[str]:
    return [f"features.{i}" for i in range(len(model.features))]


def resolve_layer(model: GapLinearClassifier, arch: str, input_size: int, name: str | None = None) -> Layer:
    """The layer ``name`` (default: the architecture's), with its map size and geometry at ``input_size``;
    an unknown name lists the valid ones, a layer whose map is a single cell is refused."""
    names = layer_names(model)
    if name is None:
        name = default_layer(model, arch, input_size)
    if name not in names:
        raise ConfigError(f"--layer {name!r} is not a layer of this {arch}; valid: {', '.join(names)} "
                          f"(the last, {names[-1]}, is where the int8 model's exact CAM is)")
    index = names.index(name)
    geometry = layer_geometry(model.features[: index + 1], input_size)
    if geometry.cells < MIN_CELLS:
        raise ConfigError(f"--layer {name} gives a {geometry.cells}x{geometry.cells} map at {input_size} px: "
                          "choose an earlier layer")
    return Layer(name, model.features[index], geometry, index == len(names) - 1)


def default_layer(model: GapLinearClassifier, arch: str, input_size: int) -> str:
    """The last layer whose map is at the architecture's default stride (the last layer when none is)."""
    stride = DEFAULT_MAP.get(arch, ("gradcam", None))[1]
    names = layer_names(model)
    at_stride = [n for i, n in enumerate(names)
                 if stride and layer_geometry(model.features[: i + 1], input_size).stride == stride]
    return at_stride[-1] if at_stride else names[-1]

