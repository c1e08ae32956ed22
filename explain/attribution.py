"""What every explainer returns and the one call they share (maps are upsampled by ``geometry.upsample``).

In Captum's spirit, every explainer is called the same way::

    attribution = explainer.attribute(pixels, target=None)

``pixels`` are the raw uint8 (N, S, S, 3) images the PreprocessSpec describes; each explainer converts
them as its runtime needs. ``target`` is the class to explain: an int, one int per image, or None for the
class that explainer's own model predicts.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Protocol

import numpy as np

from data.errors import ArtifactError
from data.preprocessing import PreprocessSpec

from .geometry import MapGeometry, upsample

Target = int | np.ndarray | list[int] | None


@dataclass(frozen=True)
class Attribution:
    maps: np.ndarray     # float32 (N, h, w) on the model's own feature grid (or the occlusion grid)
    logits: np.ndarray   # float32 (N, classes), the model's output for the same images
    targets: np.ndarray  # int64 (N,), the class each map explains
    method: str          # "gradcam", "hirescam", "cam" or "occlusion"
    note: str            # one line: how the maps were made
    geometry: MapGeometry | None = None  # where the cells sit in the input (None: tiles, a naive resize)

    def __post_init__(self):
        object.__setattr__(self, "maps", np.asarray(self.maps, np.float32))
        object.__setattr__(self, "logits", np.asarray(self.logits, np.float32))
        object.__setattr__(self, "targets", np.asarray(self.targets, np.int64))
        n = len(self.maps)
        if self.maps.ndim != 3 or self.logits.shape[:1] != (n,) or self.targets.shape != (n,):
            raise ValueError(f"inconsistent attribution: maps {self.maps.shape}, logits {self.logits.shape}, "
                             f"targets {self.targets.shape}")

    @property
    def predicted(self) -> np.ndarray:
        """int64 (N,): the class the model predicts for each image."""
        return self.logits.argmax(1)

    def upsampled(self, size: int) -> np.ndarray:
        """float32 (N, size, size): the maps at input resolution, each cell at its place (``geometry.upsample``)."""
        return upsample(self.maps, size, self.geometry)


class Explainer(Protocol):
    spec: PreprocessSpec
    method: str  # what ``attribute`` computes: "gradcam", "cam" or "occlusion"
    note: str    # one line on how, for reports

    def attribute(self, pixels: np.ndarray, target: Target = None) -> Attribution: ...


# --- helpers every explainer uses ----------------------------------------------------------------
def checked_pixels(pixels: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """``pixels`` as uint8 (N, S, S, 3) with N >= 1 and S the spec's input size, else ValueError."""
    pixels = np.asarray(pixels)
    size = spec.input_size
    if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[1:] != (size, size, 3):
        raise ValueError(f"expected uint8 (N, {size}, {size}, 3) pixels, got {pixels.dtype} {pixels.shape}")
    if len(pixels) == 0:
        raise ValueError("no images to explain")
    return pixels


def requested_targets(target: Target, n: int) -> np.ndarray | None:
    """int64 (n,) classes from an int or one per image; None stays None (explain the predicted class)."""
    if target is None:
        return None
    return np.broadcast_to(np.asarray(target, np.int64), (n,)).copy()


def attribute_each(explain_one: Callable[[np.ndarray, int | None], tuple[np.ndarray, np.ndarray, int]],
                   inputs: Iterable[np.ndarray], target: Target, n: int, method: str, note: str,
                   geometry: MapGeometry | None = None) -> Attribution:
    """An Attribution from a runtime that explains one image at a time:
    ``explain_one(input, class or None) -> (map, logits, explained class)``."""
    wanted = requested_targets(target, n)
    results = [explain_one(x, None if wanted is None else int(wanted[i])) for i, x in enumerate(inputs)]
    maps, logits, targets = zip(*results)
    return Attribution(np.stack(maps), np.stack(logits), np.array(targets), method, note, geometry)


def target_or_predicted(target: int | None, logits: np.ndarray) -> int:
    return int(np.argmax(logits)) if target is None else int(target)


@contextmanager
def unusable_model(path: str | Path):
    """Turn a runtime's failure to load ``path`` into an ArtifactError naming the file."""
    try:
        yield
    except (ValueError, OSError, RuntimeError) as e:
        raise ArtifactError(f"cannot use {path}: {e}") from e
