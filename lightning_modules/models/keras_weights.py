"""Keras applications' MobileNetV2 weights (``.h5``) as a torchvision MobileNetV2 ``features.*`` state_dict.

Keras publishes ImageNet MobileNetV2 weights for every alpha (0.35, 0.5, 0.75, 1.0, 1.3, 1.4) and training
resolution (96-224 px) as legacy Keras weights files,
``mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{rows}[_no_top].h5``: one HDF5 group per layer
(``Conv1``, ``bn_Conv1``, ``expanded_conv_depthwise``, ..., ``block_16_project_BN``, ``Conv_1``, ``Conv_1_bn``,
and with the top ``Logits`` or, from tf.keras, ``predictions``), TensorFlow-ordered kernels (HWIO; depthwise H, W, C, 1). A whole saved model
(``model.save("x.h5")``) keeps the same groups under ``model_weights``.

Every tensor is mapped exactly once; anything left over, missing or of another shape is an error naming the
layer. The alpha is read off the tensors' shapes, never the file name. These weights were trained with
TensorFlow's conventions (``lightning_modules.models.conventions``: ``tf``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torchvision.models import mobilenet_v2

from .conventions import TF

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
KERAS_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
CLASSIFIER_LAYERS = ("Logits", "predictions")  # the 1000-class top, as keras-applications and tf.keras name it
WHERE_TO_GET = ("Keras publishes MobileNetV2 ImageNet weights at https://storage.googleapis.com/tensorflow/"
                "keras-applications/mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{rows}_no_top.h5 "
                "(alpha 0.35, 0.5, 0.75, 1.0, 1.3 or 1.4; rows 96, 128, 160, 192 or 224)")
_BATCHNORM = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}


class KerasWeightsError(ValueError):
    """A file that is not a readable Keras MobileNetV2 weights file; the message names the file and the layer."""


@dataclass(frozen=True)
class KerasMobileNetV2:
    state_dict: dict[str, torch.Tensor]  # torchvision's ``features.*`` names and layouts
    alpha: float
    conventions: str = TF
    dropped: tuple[str, ...] = field(default=())  # layers read but not used (the ImageNet classifier)


def is_hdf5(path: str | Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE
    except OSError:
        return False


def keras_layers() -> Iterator[tuple[str, str]]:
    """(Keras layer, torchvision module) for every layer holding weights, in network order."""
    yield "Conv1", "features.0.0"
    yield "bn_Conv1", "features.0.1"
    yield "expanded_conv_depthwise", "features.1.conv.0.0"
    yield "expanded_conv_depthwise_BN", "features.1.conv.0.1"
    yield "expanded_conv_project", "features.1.conv.1"
    yield "expanded_conv_project_BN", "features.1.conv.2"
    for block in range(1, 17):
        conv = f"features.{block + 1}.conv"
        for part, (conv_key, bn_key) in (("expand", ("0.0", "0.1")), ("depthwise", ("1.0", "1.1")),
                                         ("project", ("2", "3"))):
            yield f"block_{block}_{part}", f"{conv}.{conv_key}"
            yield f"block_{block}_{part}_BN", f"{conv}.{bn_key}"
    yield "Conv_1", "features.18.0"
    yield "Conv_1_bn", "features.18.1"


def read_keras_mobilenet_v2(path: str | Path) -> KerasMobileNetV2:
    """The ``features.*`` state_dict (torchvision's names, PyTorch layouts, batch-norm counters at 0) of a Keras
    MobileNetV2 weights file, with its alpha; raises KerasWeightsError naming the file and the layer."""
    path = Path(path)
    tensors = _read_tensors(path)
    layers = dict(keras_layers())
    dropped = tuple(sorted({layer for layer, _ in tensors if layer in CLASSIFIER_LAYERS}))
    unmapped = [layer for layer, _ in tensors if layer not in layers and layer not in CLASSIFIER_LAYERS]
    if unmapped:
        raise KerasWeightsError(f"{path} is not a Keras MobileNetV2 weights file: layer {unmapped[0]!r} has no place "
                                f"in MobileNetV2 ({len(set(unmapped))} such layers)")
    state: dict[str, torch.Tensor] = {}
    for layer, module in layers.items():
        state.update(_layer_tensors(path, layer, module, tensors))
    return KerasMobileNetV2(state, _alpha(path, state), TF, dropped)


def _read_tensors(path: Path) -> dict[tuple[str, str], np.ndarray]:
    """{(layer, weight kind): value} of every tensor in the file; the kind is ``kernel``, ``gamma``, ..."""
    import h5py

    if not path.is_file():
        raise KerasWeightsError(f"weights file not found: {path}; {WHERE_TO_GET}")
    if not is_hdf5(path):
        raise KerasWeightsError(f"{path} is not an HDF5 file (a Keras .h5 weights file starts with the HDF5 signature)")
    tensors: dict[tuple[str, str], np.ndarray] = {}

    def collect(name: str, item) -> None:
        if isinstance(item, h5py.Dataset):
            parts = name.split("/")
            key = (parts[-2] if len(parts) > 1 else "", parts[-1].split(":")[0])
            if key in tensors:
                raise KerasWeightsError(f"{path}: layer {key[0]!r} holds two {key[1]!r} tensors")
            tensors[key] = np.asarray(item[()])

    try:
        with h5py.File(path, "r") as f:
            (f["model_weights"] if "model_weights" in f else f).visititems(collect)
    except KerasWeightsError:
        raise
    except Exception as e:  # noqa: BLE001 - h5py raises OSError, KeyError, RuntimeError... for damaged files
        raise KerasWeightsError(f"cannot read {path} (truncated or damaged HDF5): {str(e).splitlines()[0]}") from e
    if not tensors:
        raise KerasWeightsError(f"{path} holds no weight tensors")
    return tensors


def _is_batchnorm(layer: str) -> bool:
    return layer.startswith("bn_") or layer.endswith(("_BN", "_bn"))


def _layer_tensors(path: Path, layer: str, module: str, tensors: dict) -> dict[str, torch.Tensor]:
    kinds = {kind for (name, kind) in tensors if name == layer}
    if not kinds:
        raise KerasWeightsError(f"{path}: layer {layer!r} is missing (not a Keras MobileNetV2 weights file, or cut short)")
    if _is_batchnorm(layer):
        expected = set(_BATCHNORM)
    else:
        expected = {"depthwise_kernel"} if "depthwise" in layer else {"kernel"}
    if kinds != expected:
        raise KerasWeightsError(f"{path}: layer {layer!r} holds {sorted(kinds)}, expected {sorted(expected)}")
    if _is_batchnorm(layer):
        values = {kind: tensors[layer, kind] for kind in expected}
        if len({v.shape for v in values.values()}) != 1 or next(iter(values.values())).ndim != 1:
            raise KerasWeightsError(f"{path}: batch norm {layer!r} has tensors of shapes "
                                    f"{sorted(v.shape for v in values.values())}, expected one vector length")
        out = {f"{module}.{_BATCHNORM[kind]}": torch.from_numpy(v.astype(np.float32)) for kind, v in values.items()}
        return out | {f"{module}.num_batches_tracked": torch.tensor(0)}
    (kind,) = expected
    kernel = tensors[layer, kind]
    if kernel.ndim != 4:
        raise KerasWeightsError(f"{path}: layer {layer!r} has a {kernel.ndim}-D {kind}, expected a 4-D convolution kernel")
    return {f"{module}.weight": _conv_weight(kernel, depthwise=kind == "depthwise_kernel")}


def _conv_weight(kernel: np.ndarray, depthwise: bool) -> torch.Tensor:
    """HWIO -> OIHW; depthwise H, W, C, 1 -> C, 1, H, W."""
    order = (2, 3, 0, 1) if depthwise else (3, 2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(kernel.astype(np.float32).transpose(order)))


@functools.cache
def torchvision_shapes(alpha: float) -> dict[str, tuple[int, ...]]:
    """Every ``features.*`` tensor shape of torchvision's MobileNetV2 at width ``alpha``."""
    return {f"features.{k}": tuple(v.shape) for k, v in mobilenet_v2(weights=None, width_mult=alpha).features.state_dict().items()}


def _alpha(path: Path, state: dict[str, torch.Tensor]) -> float:
    """The Keras alpha whose MobileNetV2 has exactly these tensor shapes; else an error naming the first layer
    that fits none."""
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    for alpha in KERAS_ALPHAS:
        if torchvision_shapes(alpha) == shapes:
            return alpha
    stem = shapes["features.0.0.weight"][0]
    closest = min(KERAS_ALPHAS, key=lambda a: abs(torchvision_shapes(a)["features.0.0.weight"][0] - stem))
    reference = torchvision_shapes(closest)
    layer_of = {module: layer for layer, module in keras_layers()}
    key = next(k for k, shape in shapes.items() if reference[k] != shape)
    raise KerasWeightsError(f"{path}: layer {layer_of[key.rsplit('.', 1)[0]]!r} has shape {shapes[key]} (in PyTorch's "
                            f"layout), which fits MobileNetV2 at no Keras alpha {list(KERAS_ALPHAS)} (alpha {closest} "
                            f"has {reference[key]})")
