"""Grad-CAM on the PyTorch model with Captum, and the one upsampling used for every display.

Maps are returned at the native feature-map resolution (N, h, w): that is what parity metrics
compare. ``upsample`` (Captum's ``LayerAttribution.interpolate``, bilinear) brings any runtime's
maps to the input size for display and the pointing game, so all runtimes are treated alike.
"""

from __future__ import annotations

import numpy as np
import torch
from captum.attr import LayerAttribution, LayerGradCam

from lightning_modules.models.common import GapLinearClassifier

UPSAMPLE_MODE = "bilinear"


def _targets(targets, n: int) -> torch.Tensor:
    t = torch.as_tensor(np.broadcast_to(np.asarray(targets, np.int64), (n,)).copy())
    return t


def torch_gradcam(model: GapLinearClassifier, x_nchw: torch.Tensor, targets) -> np.ndarray:
    """Grad-CAM of the class logits ``targets`` (int or (N,) ints) at ``model.cam_layer``:
    ReLU(sum_k mean_ij(d logit / d A_k) * A_k). Returns float32 (N, h, w)."""
    model.eval()
    gradcam = LayerGradCam(model, model.cam_layer)
    x = x_nchw.detach().clone().requires_grad_(True)  # Captum needs a graph back to the input
    attributions = gradcam.attribute(x, target=_targets(targets, len(x)), relu_attributions=True)
    return attributions.detach()[:, 0].numpy().astype(np.float32)


@torch.no_grad()
def analytic_cam(model: GapLinearClassifier, x_nchw: torch.Tensor, targets) -> np.ndarray:
    """CAM straight from the weights: ReLU(sum_k W[c, k] / (h * w) * A_k), A = last feature map.

    For GAP + one linear layer, d logit_c / d A_k(i, j) = W[c, k] / (h * w) at every cell, so the
    Grad-CAM channel weight (the spatial mean of that gradient) is W[c, k] / (h * w) exactly."""
    model.eval()
    features = model.forward_features(x_nchw)  # (N, K, h, w)
    h, w = features.shape[-2:]
    weights = model.classifier.weight[_targets(targets, len(x_nchw))]  # (N, K)
    cam = torch.einsum("nk,nkhw->nhw", weights, features) / (h * w)
    return torch.relu(cam).numpy().astype(np.float32)


@torch.no_grad()
def torch_logits(model: GapLinearClassifier, x_nchw: torch.Tensor) -> np.ndarray:
    model.eval()
    return model(x_nchw).numpy()


def upsample(maps: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """(N, h, w) or (h, w) maps -> the same at ``size`` (bilinear, Captum's LayerAttribution.interpolate)."""
    maps = np.asarray(maps, np.float32)
    single = maps.ndim == 2
    t = torch.from_numpy(maps[None] if single else maps)[:, None]
    size = (size, size) if isinstance(size, int) else tuple(size)
    out = LayerAttribution.interpolate(t, size, interpolate_mode=UPSAMPLE_MODE)[:, 0].numpy()
    return out[0] if single else out
