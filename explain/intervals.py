"""Intervals that respect how images cluster: crops of one photo share its light, camera and people, so a
bootstrap resamples whole photo groups (each image its own group when none are known), not single images."""

from __future__ import annotations

from typing import Hashable, Iterator, Sequence

import numpy as np


def cluster_resamples(groups: Sequence[Hashable], resamples: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Item indices of ``resamples`` bootstrap samples that draw whole groups with replacement."""
    group_ids = {g: i for i, g in enumerate(dict.fromkeys(groups))}
    members = [[] for _ in group_ids]
    for item, g in enumerate(groups):
        members[group_ids[g]].append(item)
    members = [np.asarray(m) for m in members]
    rng = np.random.default_rng(seed)
    for _ in range(resamples):
        yield np.concatenate([members[i] for i in rng.integers(0, len(members), len(members))])


def cluster_mean_ci(values: Sequence[float], groups: Sequence[Hashable] | None = None, resamples: int = 2000,
                    seed: int = 0, level: float = 0.95) -> dict:
    """The mean of ``values`` (NaN left out) with a percentile interval from resampling whole ``groups``. Pass
    paired differences to get the interval of a difference."""
    values = np.asarray(values, np.float64)
    keep = ~np.isnan(values)
    groups = list(range(len(values))) if groups is None else list(groups)
    values, groups = values[keep], [g for g, k in zip(groups, keep) if k]
    if len(values) == 0:
        return {"mean": None, "ci": [None, None], "n": 0, "groups": 0}
    means = np.array([values[idx].mean() for idx in cluster_resamples(groups, resamples, seed)])
    tail = 100 * (1 - level) / 2
    return {"mean": float(values.mean()), "ci": [float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))],
            "n": int(len(values)), "groups": len(set(groups))}
