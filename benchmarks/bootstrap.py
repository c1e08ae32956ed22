"""Balanced accuracy with a cluster-bootstrap confidence interval.

Crops of one photo share its light, camera and often its people, so they are not independent: the
bootstrap resamples whole photos (clusters) with replacement, not crops. torchmetrics' BootStrapper
resamples single items, which would make the interval too narrow here.
"""

from __future__ import annotations

from typing import Hashable, Iterator, Sequence

import numpy as np

from explain.intervals import cluster_mean_ci, cluster_resamples  # noqa: F401 (the benchmarks' one import)


def balanced_accuracy(labels: np.ndarray, preds: np.ndarray, num_classes: int = 2) -> float:
    """Mean per-class recall over the classes present in ``labels``.

    The same figure as torchmetrics' macro ``multiclass_accuracy`` (export.parity) whenever both classes
    are present; a class absent from ``labels`` is left out here, where torchmetrics counts it as recall
    0 if it is predicted, which would drag down the rare resample that lacks a class."""
    recalls = [float((preds[labels == c] == c).mean()) for c in range(num_classes) if (labels == c).any()]
    return float(np.mean(recalls))


def cluster_bootstrap(labels: Sequence[int], groups: Sequence[Hashable], preds: dict[str, Sequence[int]],
                      resamples: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """Balanced accuracy of each prediction set, and of each one minus the first, with percentile intervals.

    ``preds`` maps a name to predictions aligned with ``labels``; differences are paired (the same
    resampled photos for every name), so they are much tighter than the separate intervals suggest.
    """
    labels = np.asarray(labels)
    names = list(preds)
    if not names:
        raise ValueError("need at least one prediction set")
    arrays = {n: np.asarray(p) for n, p in preds.items()}
    for n, p in arrays.items():
        if p.shape != labels.shape:
            raise ValueError(f"{n}: {p.shape[0] if p.ndim else 0} predictions for {labels.shape[0]} labels")
    if len(groups) != len(labels):
        raise ValueError(f"{len(groups)} groups for {len(labels)} labels")
    samples = {n: np.empty(resamples) for n in names}
    for b, idx in enumerate(cluster_resamples(groups, resamples, seed)):
        for n in names:
            samples[n][b] = balanced_accuracy(labels[idx], arrays[n][idx])
    tail = 100 * (1 - level) / 2
    out = {"resamples": resamples, "level": level, "groups": len(set(groups)), "items": int(labels.size)}
    for n in names:
        point = balanced_accuracy(labels, arrays[n])
        out[n] = {"balanced_accuracy": point, "ci": [float(np.percentile(samples[n], tail)),
                                                     float(np.percentile(samples[n], 100 - tail))]}
        if n != names[0]:
            diff = samples[n] - samples[names[0]]
            out[n][f"minus_{names[0]}"] = {"value": point - out[names[0]]["balanced_accuracy"],
                                           "ci": [float(np.percentile(diff, tail)),
                                                  float(np.percentile(diff, 100 - tail))]}
    return out

