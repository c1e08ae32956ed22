"""Grad-CAM on the PyTorch model with Captum's LayerGradCam at ``model.cam_layer``.

Maps come at the native feature-map resolution (N, h, w): that is what parity metrics compare.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from captum.attr import LayerGradCam

from data.errors import ArtifactError
from data.preprocessing import PreprocessSpec
from lightning_modules.checkpoint import LoadedClassifier, load_classifier
from lightning_modules.models.common import GapLinearClassifier

from .attribution import Attribution, Target, checked_pixels, requested_targets

BATCH_SIZE = 32


class TorchGradCam:
    """Grad-CAM of the trained classifier in ``model.pt`` (or any checkpoint ``load_classifier`` reads)."""

    method = "gradcam"

    def __init__(self, path: str | Path, spec: PreprocessSpec, batch_size: int = BATCH_SIZE):
        self.loaded: LoadedClassifier = load_classifier(path)
        if self.loaded.spec.input_size != spec.input_size:
            raise ArtifactError(f"{path} was trained at {self.loaded.spec.input_size} px but the preprocessing "
                                f"spec says {spec.input_size} px")
        self.spec, self.batch_size = spec, batch_size
        self.model: GapLinearClassifier = self.loaded.model.eval()
        self.note = f"Captum LayerGradCam at the last conv block of {self.loaded.arch} (model.cam_layer)"

    def attribute(self, pixels: np.ndarray, target: Target = None) -> Attribution:
        pixels = checked_pixels(pixels, self.spec)
        wanted = requested_targets(target, len(pixels))
        maps, logits, targets = [], [], []
        for start in range(0, len(pixels), self.batch_size):
            x = torch.from_numpy(self.spec.to_float_nchw(pixels[start:start + self.batch_size]))
            batch_logits = torch_logits(self.model, x)
            batch_targets = batch_logits.argmax(1) if wanted is None else wanted[start:start + len(x)]
            maps.append(torch_gradcam(self.model, x, batch_targets))
            logits.append(batch_logits)
            targets.append(batch_targets)
        return Attribution(np.concatenate(maps), np.concatenate(logits), np.concatenate(targets),
                           self.method, self.note)


def _target_tensor(targets, n: int) -> torch.Tensor:
    return torch.as_tensor(np.broadcast_to(np.asarray(targets, np.int64), (n,)).copy())


def torch_gradcam(model: GapLinearClassifier, x_nchw: torch.Tensor, targets) -> np.ndarray:
    """Grad-CAM of the class logits ``targets`` (int or (N,) ints) at ``model.cam_layer``:
    ReLU(sum_k mean_ij(d logit / d A_k) * A_k). Returns float32 (N, h, w)."""
    model.eval()
    gradcam = LayerGradCam(model, model.cam_layer)
    x = x_nchw.detach().clone().requires_grad_(True)  # Captum needs a graph back to the input
    attributions = gradcam.attribute(x, target=_target_tensor(targets, len(x)), relu_attributions=True)
    return attributions.detach()[:, 0].numpy().astype(np.float32)


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
