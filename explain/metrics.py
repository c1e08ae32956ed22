"""How alike two class-activation maps are, and whether a map points at the head.

Parity metrics compare two maps at their *native* resolution (the feature-map grid, e.g. 8x8 or
4x4 cells): upsampling first would only add interpolated cells that inflate agreement.

Pearson and Spearman are torchmetrics' (``pearson_corrcoef``, ``spearman_corrcoef``) on the maps in
float64. Degenerate maps: a Grad-CAM map can be all zero (every cell's evidence for the class is
negative and the ReLU removes it). A correlation is then undefined (torchmetrics returns NaN); here two
constant maps count as 1.0 when they are equal and 0.0 otherwise, and one constant map against a
varying one counts as 0.0, so the numbers stay bounded and a flat map never passes for agreement by
accident.
"""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics.functional import pearson_corrcoef, spearman_corrcoef

TOP_FRACTION = 0.2


def _flat_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"maps differ in shape: {a.shape} vs {b.shape}")
    if a.size == 0:
        raise ValueError("empty maps")
    return a.ravel(), b.ravel()


def _degenerate(a: np.ndarray, b: np.ndarray) -> float | None:
    flat_a, flat_b = np.ptp(a) == 0, np.ptp(b) == 0
    if flat_a and flat_b:
        return 1.0 if np.allclose(a, b) else 0.0
    if flat_a or flat_b:
        return 0.0
    return None


def _correlation(corrcoef, a: np.ndarray, b: np.ndarray) -> float:
    """A torchmetrics correlation of two maps (float64), constant maps handled as the module docstring says."""
    a, b = _flat_pair(a, b)
    special = _degenerate(a, b)
    if special is not None:
        return special
    value = float(corrcoef(torch.from_numpy(a), torch.from_numpy(b)))
    return 0.0 if np.isnan(value) else value  # NaN: too flat for float64 to tell apart, as if constant


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return _correlation(pearson_corrcoef, a, b)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson of the ranks (ties share their average rank)."""
    return _correlation(spearman_corrcoef, a, b)


def top_cells(m: np.ndarray, fraction: float = TOP_FRACTION) -> set[int]:
    """Flat indices of the ``round(fraction * cells)`` (at least 1) highest cells; ties broken by position."""
    flat = np.asarray(m, np.float64).ravel()
    k = max(1, int(round(fraction * flat.size)))
    return set(np.argsort(-flat, kind="stable")[:k].tolist())


def top_iou(a: np.ndarray, b: np.ndarray, fraction: float = TOP_FRACTION) -> float:
    """Intersection over union of the top ``fraction`` cells of each map."""
    _flat_pair(a, b)
    ta, tb = top_cells(a, fraction), top_cells(b, fraction)
    return len(ta & tb) / len(ta | tb)


def peak_cell(m: np.ndarray) -> tuple[int, int]:
    """(row, col) of the maximum (the first one in row-major order on ties)."""
    m = np.asarray(m)
    r, c = np.unravel_index(int(np.argmax(m)), m.shape)
    return int(r), int(c)


def peak_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between the two maps' peak cells, in cells."""
    _flat_pair(a, b)
    (ra, ca), (rb, cb) = peak_cell(a), peak_cell(b)
    return float(np.hypot(ra - rb, ca - cb))


def compare_maps(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    return {"pearson": pearson(a, b), "spearman": spearman(a, b), "top20_iou": top_iou(a, b),
            "peak_distance_cells": peak_distance(a, b)}


# higher is better for these; lower is better for peak distance (used to pick the worst case)
HIGHER_IS_BETTER = {"pearson": True, "spearman": True, "top20_iou": True, "peak_distance_cells": False}


def pointing_hit(upsampled: np.ndarray, box) -> bool | None:
    """Pointing game: is the peak of the input-resolution heat map inside ``box`` (x0, y0, x1, y1 in
    pixels)? The peak pixel's centre (col + 0.5, row + 0.5) is tested. An all-flat map points
    nowhere: a miss. ``None`` when there is no box."""
    if box is None:
        return None
    upsampled = np.asarray(upsampled)
    if np.ptp(upsampled) == 0:
        return False
    r, c = peak_cell(upsampled)
    x0, y0, x1, y1 = (float(v) for v in box)
    return bool(x0 <= c + 0.5 <= x1 and y0 <= r + 0.5 <= y1)


def box_mask(shape: tuple[int, int], box) -> np.ndarray:
    """Pixels whose centre (col + 0.5, row + 0.5) lies in ``box`` (x0, y0, x1, y1), as pointing_hit tests."""
    rows, cols = np.arange(shape[0]) + 0.5, np.arange(shape[1]) + 0.5
    x0, y0, x1, y1 = (float(v) for v in box)
    return ((y0 <= rows) & (rows <= y1))[:, None] & ((x0 <= cols) & (cols <= x1))[None, :]


def energy_in_box(upsampled: np.ndarray, box) -> float | None:
    """Energy-based pointing game (Score-CAM, Wang et al. 2020): the share of the map's (non-negative)
    mass that lies inside ``box``. Unlike the peak it credits a map for how much of it is on the head, not
    only where its maximum is. A uniform map scores the box's area fraction; an all-zero map scores 0.
    ``None`` when there is no box."""
    if box is None:
        return None
    m = np.clip(np.asarray(upsampled, np.float64), 0, None)
    total = m.sum()
    return float(m[box_mask(m.shape, box)].sum() / total) if total > 0 else 0.0


def content_free_baselines(box, size: int) -> dict[str, float] | None:
    """What maps that ignore the image score on ``box`` in a ``size`` x ``size`` input: the pointing game
    of a map peaking at the centre pixel, and the energy in the box of a uniform map (the box's area
    fraction). On head crops the head is centred, so a map must beat these to show it looks at the head."""
    if box is None:
        return None
    inside = box_mask((size, size), box)
    return {"pointing_hit": bool(inside[size // 2, size // 2]), "energy_in_box": float(inside.mean())}


def summarize(values: list[float], higher_is_better: bool) -> dict:
    """Median and the worst value with its position in ``values``."""
    arr = np.asarray(values, np.float64)
    if arr.size == 0:
        return {"median": None, "worst": None, "worst_index": None, "mean": None}
    worst = int(np.argmin(arr) if higher_is_better else np.argmax(arr))
    return {"median": float(np.median(arr)), "mean": float(arr.mean()), "worst": float(arr[worst]),
            "worst_index": worst}
