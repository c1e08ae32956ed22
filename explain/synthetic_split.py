"""Explanation parity on the model's own synthetic test split, where every head box is known."""

from __future__ import annotations

import numpy as np

from data.errors import ConfigError
from data.images import Images
from data.sources import DEFAULT_SYNTHETIC_COUNTS
from data.synthetic import generate

from .export_explainers import ExportExplainers
from .parity import explain_images


def synthetic_test_images(runtimes: ExportExplainers, n: int, start: int | None = None,
                          seed: int | None = None) -> tuple[Images, int, int]:
    """``n`` synthetic images with labels and head boxes, by default the model's own test split (indices
    after its train + val ranges, so never a training image) with its data seed. Returns (images, start, seed)."""
    if n < 1:
        raise ConfigError(f"the number of synthetic images must be >= 1, got {n}")
    data = runtimes.model.data
    counts = {**DEFAULT_SYNTHETIC_COUNTS, **(data.get("synthetic_counts") or {})}
    start = counts["train"] + counts["val"] if start is None else start
    seed = data.get("seed", 0) if seed is None else seed
    pixels, labels, boxes = generate(n, seed=seed, size=runtimes.spec.input_size, start=start, return_boxes=True)
    return Images(pixels=pixels, labels=np.asarray(labels, np.int64),
                  boxes=[tuple(float(v) for v in box) for box in boxes]), int(start), int(seed)


def explain_synthetic(runtimes: ExportExplainers, n: int = 200, start: int | None = None, seed: int | None = None,
                      target: str = "predicted", quality: bool = False) -> tuple[dict, Images]:
    """``explain_images`` on ``synthetic_test_images``; the summary gains "synthetic": {seed, start, n}.
    Returns the report and the images (for ``write_outputs``)."""
    images, start, seed = synthetic_test_images(runtimes, n, start, seed)
    report = explain_images(runtimes, images.pixels, boxes=images.boxes, target=target,
                            names=[f"synthetic_{start + i:06d}" for i in range(n)], quality=quality)
    report["summary"]["synthetic"] = {"seed": seed, "start": start, "n": int(n)}
    return report, images
