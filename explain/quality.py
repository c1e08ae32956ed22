"""Do the maps explain the model? Localisation, faithfulness and the randomisation sanity check, with Quantus.

Conventions (each tested in tests/test_explain_quality.py):

* Every map is scored at input resolution, upsampled by its own geometry (``geometry.upsample``): cells sit on
  their receptive fields, so networks padded differently, and occlusion grids, are compared fairly.
* **Pointing game** (Zhang et al. 2018): Quantus ``PointingGame``, a hit when a maximum of the map lies in the
  head box (pixel centres, as ``metrics.pointing_hit``). A *flat* map (all values equal, all-zero included)
  points nowhere and is a miss: Quantus would count it a hit, every pixel being a maximum. The share of flat maps
  is reported beside the score.
* **Relevance mass** (Arras et al. 2022): Quantus ``RelevanceMassAccuracy``, the share of the map's mass inside the
  head box (maps are >= 0; a flat zero map scores 0). It is ``metrics.energy_in_box`` under another name.
* **Faithfulness**: Quantus ``RegionPerturbation`` (Samek et al. 2017), most relevant first: square patches of
  ``patch`` px, ranked by the map's mass in them, are replaced one after another by the image's mean value
  (Quantus's ``mean`` baseline: a grey patch), and the drop of the explained class's probability is averaged over
  the first ``regions`` steps (AOPC). Higher is more faithful. It runs on the runtime's own model (the int8
  interpreter for int8 maps) and is compared, image by image, with a centre-peaked and a random map.
* **Randomisation** (Adebayo et al. 2018): Quantus ``MPRT``, every layer re-initialised in a top-down cascade
  (seed 42), the Spearman rank correlation between the map of the trained and of the fully randomised model
  (Quantus's defaults: ``abs`` and normalised by the maximum; our Spearman, which scores a flat map 0). A map
  that explains the model changes: the check passes when the median correlation is <= ``SANITY_MAX``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from . import metrics
from .geometry import MapGeometry, upsample

SANITY_MAX = 0.3
PATCH_FRACTION = 12   # faithfulness patch: input size / 12 (8 px at 96 px)
REGIONS = 36          # patches removed: a quarter of the image at 96 px
BASELINE = "mean"     # Quantus's perturbation baseline: each image's mean value (grey)
RANDOM_SEED = 0


@dataclass(frozen=True)
class PerturbationSettings:
    patch: int
    regions: int
    baseline: str = BASELINE

    @classmethod
    def for_size(cls, input_size: int) -> "PerturbationSettings":
        return cls(max(1, input_size // PATCH_FRACTION), REGIONS)

    def describe(self) -> str:
        return (f"RegionPerturbation MoRF, {self.patch} px patches, the first {self.regions} replaced by the image's "
                f"{self.baseline} value, AOPC of the explained class's probability")


def _quantus():
    import quantus

    return quantus


def box_masks(boxes, size: int) -> np.ndarray:
    """(N, 1, size, size) bool head masks: pixel centres inside each (x0, y0, x1, y1) box."""
    return np.stack([metrics.box_mask((size, size), box) for box in boxes])[:, None]


def is_flat(maps: np.ndarray) -> np.ndarray:
    """(N,) bool: maps whose values are all equal (an all-zero map included)."""
    flat = maps.reshape(len(maps), -1)
    return flat.max(1) == flat.min(1)


def pointing_game(maps: np.ndarray, boxes) -> np.ndarray:
    """(N,) 1.0 hit / 0.0 miss of input-resolution ``maps`` (N, S, S) on head ``boxes``; flat maps miss."""
    q = _quantus()
    hits = np.asarray(q.PointingGame(normalise=False, disable_warnings=True)(
        model=None, x_batch=maps[:, None], y_batch=np.zeros(len(maps), int), a_batch=maps[:, None],
        s_batch=box_masks(boxes, maps.shape[-1])), np.float64)
    hits[is_flat(maps)] = 0.0
    return hits


def relevance_mass(maps: np.ndarray, boxes) -> np.ndarray:
    """(N,) share of each (non-negative) map's mass inside its head box; 0 for an all-zero map."""
    q = _quantus()
    maps = np.maximum(maps, 0.0)
    empty = maps.reshape(len(maps), -1).sum(1) == 0
    safe = np.where(empty[:, None, None], 1.0, maps)  # Quantus divides by the total
    mass = np.asarray(q.RelevanceMassAccuracy(normalise=False, disable_warnings=True)(
        model=None, x_batch=safe[:, None], y_batch=np.zeros(len(maps), int), a_batch=safe[:, None],
        s_batch=box_masks(boxes, maps.shape[-1])), np.float64)
    mass[empty] = 0.0
    return mass


class LogitsModule(torch.nn.Module):
    """Any runtime as a module Quantus can call: float NCHW in [0, 1] -> logits, through ``logits(uint8 NHWC)``
    (e.g. the int8 interpreter: the image is rounded to the camera bytes it takes)."""

    def __init__(self, logits: Callable[[np.ndarray], np.ndarray]):
        super().__init__()
        self.logits = logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pixels = np.clip(np.rint(x.detach().cpu().numpy().transpose(0, 2, 3, 1) * 255.0), 0, 255).astype(np.uint8)
        return torch.from_numpy(np.asarray(self.logits(pixels), np.float32))


def faithfulness(model: torch.nn.Module, pixels: np.ndarray, maps: np.ndarray, targets: np.ndarray,
                 settings: PerturbationSettings) -> np.ndarray:
    """(N,) AOPC of region perturbation (most relevant first) of input-resolution ``maps`` on ``model`` (float
    NCHW in [0, 1] -> logits), for the classes ``targets``."""
    q = _quantus()
    x = pixels.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        curves = q.RegionPerturbation(patch_size=settings.patch, order="morf", regions_evaluation=settings.regions,
                                      normalise=False, perturb_baseline=settings.baseline, disable_warnings=True)(
            model=model.eval(), x_batch=x, y_batch=np.asarray(targets, int), a_batch=maps[:, None].astype(np.float32),
            channel_first=True, softmax=True, device="cpu", batch_size=len(x))
    return np.array([float(np.mean(c)) for c in curves])


def centre_maps(n: int, size: int) -> np.ndarray:
    """A map that ignores the image: peaked at the centre pixel, falling off with the distance to it."""
    centre = (size - 1) / 2 if size % 2 else size // 2  # the pixel metrics.content_free_baselines tests
    yy, xx = np.mgrid[:size, :size]
    single = -np.hypot(yy - centre, xx - centre)
    return np.repeat((single - single.min())[None], n, axis=0).astype(np.float32)


def random_maps(n: int, size: int, patch: int, seed: int = RANDOM_SEED) -> np.ndarray:
    """Seeded maps of random values, constant on each faithfulness patch: a random patch order."""
    cells = int(np.ceil(size / patch))
    grid = np.random.default_rng(seed).random((n, cells, cells)).astype(np.float32)
    return np.repeat(np.repeat(grid, patch, axis=1), patch, axis=2)[:, :size, :size]


def batched_spearman(a: np.ndarray, b: np.ndarray, batched: bool = True, **_) -> np.ndarray | float:
    """Quantus's similarity-function signature over our Spearman (which scores a flat map against a varying one 0)."""
    if not batched:
        return metrics.spearman(a, b)
    return np.array([metrics.spearman(x, y) for x, y in zip(a, b)])


def randomisation(model: torch.nn.Module, explain: Callable[[torch.nn.Module, np.ndarray, np.ndarray], np.ndarray],
                  pixels: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(N,) Spearman correlation between each map of ``model`` and of the fully randomised model (Quantus MPRT,
    top-down cascade over every layer with parameters, seed 42). ``explain(model, x NCHW float, targets)`` returns
    input-resolution maps (N, S, S) of whatever model it is given."""
    q = _quantus()
    x = pixels.astype(np.float32).transpose(0, 3, 1, 2) / 255.0

    def explain_func(model, inputs, targets, **_):
        return explain(model, np.asarray(inputs, np.float32), np.asarray(targets))[:, None]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = q.MPRT(similarity_func=batched_spearman, layer_order="top_down", skip_layers=True,
                        return_last_correlation=True, disable_warnings=True)(
            model=model.eval(), x_batch=x, y_batch=np.asarray(targets, int), a_batch=None, channel_first=True,
            explain_func=explain_func, device="cpu", batch_size=len(x))
    return np.asarray(scores, np.float64)


def upsampled(maps: np.ndarray, size: int, geometry: MapGeometry | None) -> np.ndarray:
    return np.maximum(upsample(maps, size, geometry), 0.0)
