"""benchmarks.bootstrap: balanced accuracy and its photo-level (cluster) bootstrap interval."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.bootstrap import balanced_accuracy, cluster_bootstrap


def test_balanced_accuracy_is_the_mean_recall_of_the_classes_present():
    labels = np.array([0, 0, 0, 1])
    assert balanced_accuracy(labels, np.array([0, 0, 0, 0])) == 0.5
    assert balanced_accuracy(labels, np.array([0, 0, 1, 1])) == pytest.approx((2 / 3 + 1) / 2)
    assert balanced_accuracy(np.array([1, 1]), np.array([1, 0])) == 0.5


def noisy_predictions(n_photos: int, per_photo: int, error: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n_photos * per_photo)
    groups = np.repeat(np.arange(n_photos), per_photo)
    preds = np.where(rng.random(labels.size) < error, 1 - labels, labels)
    return labels, groups.tolist(), preds


def test_interval_holds_the_estimate_and_narrows_with_more_photos():
    small = cluster_bootstrap(*noisy_predictions(50, 2, 0.1)[:2], {"m": noisy_predictions(50, 2, 0.1)[2]}, 500)
    large = cluster_bootstrap(*noisy_predictions(800, 2, 0.1)[:2], {"m": noisy_predictions(800, 2, 0.1)[2]}, 500)
    for r in (small, large):
        lo, hi = r["m"]["ci"]
        assert lo <= r["m"]["balanced_accuracy"] <= hi
    width = lambda r: r["m"]["ci"][1] - r["m"]["ci"][0]  # noqa: E731
    assert width(large) < 0.5 * width(small)
    assert large["groups"] == 800 and large["items"] == 1600


def test_resampling_photos_widens_the_interval_when_a_photo_errs_as_a_whole():
    """Ten crops per photo, all right or all wrong: the crops of one photo are one observation."""
    rng = np.random.default_rng(1)
    labels = np.tile([0, 1], 400)
    photo_wrong = rng.random(80) < 0.15
    groups = np.repeat(np.arange(80), 10)
    preds = np.where(photo_wrong[groups], 1 - labels, labels)
    by_photo = cluster_bootstrap(labels, groups.tolist(), {"m": preds}, 500)
    by_crop = cluster_bootstrap(labels, list(range(800)), {"m": preds}, 500)
    width = lambda r: r["m"]["ci"][1] - r["m"]["ci"][0]  # noqa: E731
    assert width(by_photo) > 2 * width(by_crop)


def test_paired_difference_is_tighter_than_either_interval():
    labels, groups, preds = noisy_predictions(300, 2, 0.1)
    better = preds.copy()
    fixed = np.flatnonzero(better != labels)[:10]
    better[fixed] = labels[fixed]
    r = cluster_bootstrap(labels, groups, {"a": preds, "b": better}, 1000)
    diff = r["b"]["minus_a"]
    assert diff["value"] > 0 and diff["ci"][0] > 0          # ten fixed errors: a real, detectable gain
    assert diff["ci"][1] - diff["ci"][0] < r["a"]["ci"][1] - r["a"]["ci"][0]
    assert "minus_a" not in r["a"]


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="predictions for"):
        cluster_bootstrap([0, 1], [0, 1], {"m": [0]})
    with pytest.raises(ValueError, match="groups for"):
        cluster_bootstrap([0, 1], [0], {"m": [0, 1]})
    with pytest.raises(ValueError, match="at least one"):
        cluster_bootstrap([0, 1], [0, 1], {})
