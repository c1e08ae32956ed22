"""Grad-CAM and HiResCAM on the PyTorch model with Captum, at a chosen layer (default: the model's, see layers).

Grad-CAM (Selvaraju et al. 2017): ReLU(sum_k mean_ij(d y_c / d A_k) * A_k), Captum's ``LayerGradCam``.
HiResCAM (Draelos & Carin 2020): ReLU(sum_k d y_c / d A_k * A_k), cell by cell, Captum's
``LayerGradientXActivation`` summed over channels. At the last layer of a GAP + linear head the gradient is the
same at every cell, so both equal the exact CAM; they differ at earlier layers.

Maps come at the layer's native resolution (N, h, w): that is what parity metrics compare.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from captum.attr import LayerGradCam, LayerGradientXActivation

from data.errors import ArtifactError
from data.preprocessing import PreprocessSpec
from lightning_modules.checkpoint import LoadedClassifier, load_classifier
from lightning_modules.models.common import GapLinearClassifier

from .attribution import Attribution, Target, checked_pixels, requested_targets
from .layers import Layer, default_method, resolve_layer

BATCH_SIZE = 32
GRADIENT_METHODS = ("gradcam", "hirescam")
CAPTUM = {"gradcam": "LayerGradCam", "hirescam": "LayerGradientXActivation summed over channels"}


def load_torch_classifier(path: str | Path, spec: PreprocessSpec) -> LoadedClassifier:
    """The classifier of ``model.pt`` (or any checkpoint), checked against the export's preprocessing."""
    loaded = load_classifier(path)
    if loaded.spec.input_size != spec.input_size:
        raise ArtifactError(f"{path} was trained at {loaded.spec.input_size} px but the preprocessing "
                            f"spec says {spec.input_size} px")
    return loaded


class TorchGradCam:
    """Grad-CAM (or HiResCAM) of the trained classifier in ``model.pt`` (or any checkpoint ``load_classifier``
    reads) at ``layer`` (a name from ``layers.layer_names``; default: the architecture's default layer)."""

    def __init__(self, path: str | Path, spec: PreprocessSpec, layer: str | None = None, method: str | None = None,
                 batch_size: int = BATCH_SIZE, loaded: LoadedClassifier | None = None):
        self.loaded: LoadedClassifier = loaded or load_torch_classifier(path, spec)
        method = method or default_method(self.loaded.arch)
        if method not in GRADIENT_METHODS:
            raise ValueError(f"method must be one of {GRADIENT_METHODS}, got {method!r}")
        self.spec, self.batch_size, self.method = spec, batch_size, method
        self.model: GapLinearClassifier = self.loaded.model.eval()
        self.layer: Layer = resolve_layer(self.model, self.loaded.arch, spec.input_size, layer)
        self.geometry = self.layer.geometry
        self.note = (f"Captum {CAPTUM[method]} at {self.layer.name} of {self.loaded.arch} "
                     f"({self.geometry.cells}x{self.geometry.cells} map)")

    def attribute(self, pixels: np.ndarray, target: Target = None) -> Attribution:
        pixels = checked_pixels(pixels, self.spec)
        wanted = requested_targets(target, len(pixels))
        maps, logits, targets = [], [], []
        for start in range(0, len(pixels), self.batch_size):
            x = torch.from_numpy(self.spec.to_float_nchw(pixels[start:start + self.batch_size]))
            batch_logits = torch_logits(self.model, x)
            batch_targets = batch_logits.argmax(1) if wanted is None else wanted[start:start + len(x)]
            maps.append(layer_map(self.model, self.layer.module, x, batch_targets, self.method))
            logits.append(batch_logits)
            targets.append(batch_targets)
        return Attribution(np.concatenate(maps), np.concatenate(logits), np.concatenate(targets),
                           self.method, self.note, self.geometry)


def _target_tensor(targets, n: int) -> torch.Tensor:
    return torch.as_tensor(np.broadcast_to(np.asarray(targets, np.int64), (n,)).copy())


def layer_map(model: torch.nn.Module, layer: torch.nn.Module, x_nchw: torch.Tensor, targets,
              method: str = "gradcam") -> np.ndarray:
    """Grad-CAM or HiResCAM of the class logits ``targets`` (int or (N,) ints) at ``layer``; float32 (N, h, w)."""
    model.eval()
    x = x_nchw.detach().clone().requires_grad_(True)  # Captum needs a graph back to the input
    target = _target_tensor(targets, len(x))
    if method == "gradcam":
        attributions = LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True)[:, 0]
    else:
        attributions = torch.relu(LayerGradientXActivation(model, layer).attribute(x, target=target).sum(1))
    return attributions.detach().numpy().astype(np.float32)


def torch_gradcam(model: GapLinearClassifier, x_nchw: torch.Tensor, targets) -> np.ndarray:
    """Grad-CAM of the class logits ``targets`` (int or (N,) ints) at ``model.cam_layer``:
    ReLU(sum_k mean_ij(d logit / d A_k) * A_k). Returns float32 (N, h, w)."""
    return layer_map(model, model.cam_layer, x_nchw, targets, "gradcam")


@torch.no_grad()
def analytic_cam(model: GapLinearClassifier, x_nchw: torch.Tensor, targets) -> np.ndarray:
    """CAM straight from the weights: ReLU(sum_k W[c, k] / (h * w) * A_k), A = last feature map.

    For GAP + one linear layer, d logit_c / d A_k(i, j) = W[c, k] / (h * w) at every cell, so the
    Grad-CAM channel weight (the spatial mean of that gradient) is W[c, k] / (h * w) exactly."""
    model.eval()
    features = model.forward_features(x_nchw)  # (N, K, h, w)
    h, w = features.shape[-2:]
    weights = model.classifier.weight[_target_tensor(targets, len(x_nchw))]  # (N, K)
    cam = torch.einsum("nk,nkhw->nhw", weights, features) / (h * w)
    return torch.relu(cam).numpy().astype(np.float32)


@torch.no_grad()
def torch_logits(model: GapLinearClassifier, x_nchw: torch.Tensor) -> np.ndarray:
    model.eval()
    return model(x_nchw).numpy()
