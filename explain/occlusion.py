"""Occlusion sensitivity (Zeiler & Fergus 2014), the one perturbation map every runtime can make: the same
patches, filled the same way, in PyTorch and on the int8 interpreter, so their maps compare like with like.

Each map cell is ReLU(logit_c(image) - logit_c(image with that patch filled with the image's mean colour)); the
patches tile the input with stride = patch size, in raw uint8 pixels (the int8 model's own input).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from data.preprocessing import PreprocessSpec
from lightning_modules.checkpoint import LoadedClassifier

from .attribution import Attribution, Target, attribute_each, checked_pixels, target_or_predicted
from .geometry import MapGeometry

LogitsFn = Callable[[np.ndarray], np.ndarray]  # uint8 (N, S, S, 3) -> float (N, classes)
NOTE = "occlusion sensitivity (patch = stride = {patch} px, filled with the image's mean colour; ReLU of the logit drop)"


def occlusion_geometry(size: int, patch: int) -> MapGeometry:
    return MapGeometry(int(np.ceil(size / patch)), patch / 2 - 0.5, float(patch))


def occlusion_map(logits: LogitsFn, image_uint8: np.ndarray, base_logits: np.ndarray, target: int, patch: int,
                  fill: np.ndarray | None = None) -> np.ndarray:
    """One HWC uint8 image's (g, g) occlusion map for class ``target``; ``base_logits`` are its own logits."""
    size = image_uint8.shape[0]
    grid = int(np.ceil(size / patch))
    fill = image_uint8.reshape(-1, 3).mean(0).round().astype(np.uint8) if fill is None else fill
    occluded = np.repeat(image_uint8[None], grid * grid, axis=0)
    for r in range(grid):
        for c in range(grid):
            occluded[r * grid + c, r * patch:(r + 1) * patch, c * patch:(c + 1) * patch] = fill
    drops = base_logits[target] - logits(occluded)[:, target]
    return np.maximum(drops, 0.0).reshape(grid, grid).astype(np.float32)


def torch_logits_fn(model: torch.nn.Module, spec: PreprocessSpec, batch_size: int = 256) -> LogitsFn:
    model = model.eval()

    @torch.no_grad()
    def logits(pixels: np.ndarray) -> np.ndarray:
        return np.concatenate([model(torch.from_numpy(spec.to_float_nchw(pixels[i:i + batch_size]))).numpy()
                               for i in range(0, len(pixels), batch_size)])
    return logits


class Occlusion:
    """Occlusion sensitivity of any runtime given as a uint8 -> logits function (``TorchOcclusion``, or the int8
    interpreter in ``tflite_cam``)."""

    method = "occlusion"

    def __init__(self, logits: LogitsFn, spec: PreprocessSpec, patch: int, runtime: str):
        if not 1 <= patch <= spec.input_size:
            raise ValueError(f"occlusion patch must be 1..{spec.input_size} px, got {patch}")
        self.logits, self.spec, self.patch = logits, spec, int(patch)
        self.geometry = occlusion_geometry(spec.input_size, self.patch)
        self.note = f"{runtime}: " + NOTE.format(patch=self.patch)

    def attribute(self, pixels: np.ndarray, target: Target = None) -> Attribution:
        pixels = checked_pixels(pixels, self.spec)
        return attribute_each(self.explain_one, pixels, target, len(pixels), self.method, self.note, self.geometry)

    def explain_one(self, image_uint8: np.ndarray, target: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        base = self.logits(image_uint8[None])[0]
        target = target_or_predicted(target, base)
        return occlusion_map(self.logits, image_uint8, base, target, self.patch), base, target


class TorchOcclusion(Occlusion):
    def __init__(self, loaded: LoadedClassifier, spec: PreprocessSpec, patch: int):
        super().__init__(torch_logits_fn(loaded.model, spec), spec, patch, f"PyTorch {Path(loaded.path).name}")
        self.loaded = loaded
