"""explain/ without a model: map metrics on hand-made maps, the Attribution contract, weight dequantization."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torchmetrics.functional import pearson_corrcoef

from data.preprocessing import PreprocessSpec
from explain import metrics
from explain.attribution import Attribution, checked_pixels, requested_targets, upsample
from explain.tflite_cam import _dequantize_const


def test_metrics_identical_maps():
    m = np.random.default_rng(0).random((8, 8))
    assert metrics.pearson(m, m) == pytest.approx(1.0)
    assert metrics.spearman(m, m) == pytest.approx(1.0)
    assert metrics.top_iou(m, m) == 1.0
    assert metrics.peak_distance(m, m) == 0.0
    assert metrics.pearson(m, 3 * m + 1) == pytest.approx(1.0)  # scale-free
    assert metrics.pearson(m, -m) == pytest.approx(-1.0)


def test_correlations_agree_with_numpy():
    rng = np.random.default_rng(1)
    a = rng.random((6, 6))
    b = a + rng.normal(scale=0.3, size=(6, 6))
    assert metrics.pearson(a, b) == pytest.approx(np.corrcoef(a.ravel(), b.ravel())[0, 1], abs=1e-12)
    ranks = [np.argsort(np.argsort(m.ravel())) for m in (a, b)]  # no ties here: plain ranks
    assert metrics.spearman(a, b) == pytest.approx(np.corrcoef(*ranks)[0, 1], abs=1e-6)


def test_metrics_shifted_peak_and_top_cells():
    a, b = np.zeros((8, 8)), np.zeros((8, 8))
    a[1, 2], b[4, 6] = 1.0, 1.0
    assert metrics.peak_distance(a, b) == pytest.approx(5.0)  # (3, 4) cells apart
    a = np.arange(16.0).reshape(4, 4)  # top 20 % of 16 cells = 3 cells: 15, 14, 13
    b = a.copy()
    b[3, 3], b[0, 0] = 0.0, 100.0  # swap one top cell out, one in
    assert metrics.top_cells(a) == {13, 14, 15}
    assert metrics.top_iou(a, b) == pytest.approx(2 / 4)
    assert metrics.spearman(np.array([1.0, 2, 3, 4]), np.array([10.0, 20, 30, 1000])) == pytest.approx(1.0)
    # ties share their average rank: ranks (1, 2.5, 2.5, 4) against (1, 2, 3, 4) correlate sqrt(0.9)
    assert metrics.spearman(np.array([1.0, 2, 2, 3]), np.array([1.0, 2, 3, 4])) == pytest.approx(0.9 ** 0.5, abs=1e-6)


def test_constant_maps_are_decided_before_torchmetrics():
    """torchmetrics has no answer for a constant map (NaN); the metrics keep the rule of the module
    docstring: two equal constant maps agree (1.0), anything else with a constant map scores 0.0."""
    zeros, ones, m = np.zeros((4, 4)), np.ones((4, 4)), np.eye(4)
    with pytest.warns(UserWarning, match="variance"):
        assert np.isnan(float(pearson_corrcoef(torch.zeros(16, dtype=torch.float64), torch.eye(4).ravel().double())))
    for correlation in (metrics.pearson, metrics.spearman):
        assert correlation(zeros, zeros) == 1.0
        assert correlation(zeros, ones) == 0.0
        assert correlation(zeros, m) == 0.0 and correlation(m, zeros) == 0.0
    with pytest.raises(ValueError, match="shape"):
        metrics.pearson(np.zeros((4, 4)), np.zeros((8, 8)))


def test_pointing_game():
    heat = upsample(np.pad(np.ones((1, 1)), ((2, 5), (6, 1))), 64)  # peak cell (2, 6) of 8x8 -> pixels ~(52, 20)
    assert metrics.pointing_hit(heat, (40, 10, 64, 30)) is True
    assert metrics.pointing_hit(heat, (0, 0, 30, 30)) is False
    assert metrics.pointing_hit(heat, None) is None
    assert metrics.pointing_hit(np.zeros((64, 64)), (0, 0, 64, 64)) is False


def test_energy_in_box_and_content_free_baselines():
    box = (16, 16, 48, 48)  # the central quarter of a 64 px input
    heat = np.zeros((64, 64))
    heat[20:30, 20:30] = 1.0
    assert metrics.energy_in_box(heat, box) == pytest.approx(1.0)
    heat[0:10, 0:10] = 3.0  # three times the mass outside
    assert metrics.energy_in_box(heat, box) == pytest.approx(0.25)
    assert metrics.energy_in_box(np.full((64, 64), -1.0), box) == 0.0  # nothing positive: points nowhere
    assert metrics.energy_in_box(heat, None) is None
    assert metrics.content_free_baselines(box, 64) == {"pointing_hit": True, "energy_in_box": pytest.approx(0.25)}
    assert metrics.content_free_baselines((0, 0, 20, 20), 64)["pointing_hit"] is False
    # a uniform map scores exactly the baseline
    assert metrics.energy_in_box(np.ones((64, 64)), box) == metrics.content_free_baselines(box, 64)["energy_in_box"]


def test_attribution_contract():
    a = Attribution(np.ones((2, 3, 3), np.float64), [[0.0, 1.0], [2.0, 1.0]], [1, 0], "cam", "note")
    assert a.maps.dtype == np.float32 and a.logits.dtype == np.float32 and a.targets.dtype == np.int64
    np.testing.assert_array_equal(a.predicted, [1, 0])
    assert a.upsampled(12).shape == (2, 12, 12)
    with pytest.raises(ValueError, match="inconsistent"):
        Attribution(np.ones((2, 3, 3)), np.ones((3, 2)), [0, 1], "cam", "note")
    spec = PreprocessSpec(input_size=16)
    good = np.zeros((2, 16, 16, 3), np.uint8)
    assert checked_pixels(good, spec) is not None
    for bad in (good.astype(np.float32), np.zeros((2, 8, 8, 3), np.uint8), good[:0]):
        with pytest.raises(ValueError):
            checked_pixels(bad, spec)
    assert requested_targets(None, 3) is None
    np.testing.assert_array_equal(requested_targets(1, 3), [1, 1, 1])
    np.testing.assert_array_equal(requested_targets([0, 1, 0], 3), [0, 1, 0])


def test_weight_dequantization_per_channel_and_per_tensor():
    q = np.array([[10, -20, 0], [1, 2, 3]], np.int8)
    per_channel = SimpleNamespace(name="w", dtype="int8", values=q, scale=[0.5, 0.25], zero_point=[0, 0],
                                  quantized_dimension=0)
    np.testing.assert_allclose(_dequantize_const(per_channel), [[5, -10, 0], [0.25, 0.5, 0.75]])
    per_tensor = SimpleNamespace(name="w", dtype="int8", values=q, scale=[0.1], zero_point=[2], quantized_dimension=0)
    np.testing.assert_allclose(_dequantize_const(per_tensor), (q.astype(np.float32) - 2) * 0.1, rtol=1e-6)
