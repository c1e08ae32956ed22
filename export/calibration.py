"""The representative dataset: real training images through the shared preprocessing."""

from __future__ import annotations

import logging

import numpy as np

from data.errors import ConfigError
from data.preprocessing import PreprocessSpec
from data.sources import SYNTHETIC, load_pixels, scan_imagefolder, synthetic_split

log = logging.getLogger("export")
REFUSE_UNDER = 10
WARN_UNDER = 100


class CalibrationError(ConfigError):
    """Too few calibration images asked for, or found."""


def calibration_pixels(source: str, spec: PreprocessSpec, n: int, seed: int = 0,
                       synthetic_counts: dict[str, int] | None = None) -> np.ndarray:
    """Up to ``n`` training images (uint8 NHWC), a seeded random sample. Refuses fewer than 10,
    warns under 100 or when fewer than asked exist."""
    if n < REFUSE_UNDER:
        raise CalibrationError(f"--calib-samples {n} is too few: int8 calibration needs at least {REFUSE_UNDER}")
    if source == SYNTHETIC:
        pixels = synthetic_split("train", spec, seed, synthetic_counts, limit=n).pixels
    else:
        items = scan_imagefolder(source, seed)["train"]
        order = np.random.default_rng(seed).permutation(len(items))[:n]
        pixels = load_pixels([items[i] for i in sorted(order)], spec).pixels
    found = len(pixels)
    if found < REFUSE_UNDER:
        raise CalibrationError(f"only {found} calibration image(s) in the training split of {source}; "
                               f"int8 calibration needs at least {REFUSE_UNDER}")
    if found < n:
        log.warning("asked for %d calibration images, the training split of %s has only %d", n, source, found)
    if found < WARN_UNDER:
        log.warning("calibrating int8 on only %d images (fewer than %d): quantization ranges may be poor",
                    found, WARN_UNDER)
    return pixels
