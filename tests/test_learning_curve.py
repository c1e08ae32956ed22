"""benchmarks.learning_curve: the power-law fit through cross-validated rows and its extrapolation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml

from benchmarks.learning_curve import doublings_to_target, fit_power_law, learning_curve, load_points, markdown

PHOTOS, PER_PHOTO = 600, 2


def test_fit_recovers_the_exponent_of_a_power_law():
    crops = np.array([100.0, 200.0, 400.0, 800.0])
    intercept, slope = fit_power_law(crops, 0.4 * crops ** -0.3)
    assert slope == pytest.approx(-0.3)
    assert 2 ** intercept == pytest.approx(0.4)


def test_doublings_to_target_follow_the_line_and_are_infinite_when_it_does_not_fall():
    # error 0.16 at 1000 crops, halving per doubling: 0.04 is two doublings away
    slope = -1.0
    intercept = math.log2(0.16) - slope * math.log2(1000)
    assert doublings_to_target(intercept, slope, 1000, 0.04) == pytest.approx(2.0)
    assert doublings_to_target(intercept, slope, 1000, 0.32) == pytest.approx(-1.0)
    assert doublings_to_target(math.log2(0.16), 0.0, 1000, 0.04) == math.inf


def predictions_with_error(error: float) -> dict:
    """Balanced labels, two crops per photo, ``error`` of each class predicted wrong."""
    labels = np.tile([0, 1], PHOTOS * PER_PHOTO // 2)
    preds = labels.copy()
    for c in (0, 1):
        members = np.flatnonzero(labels == c)
        wrong = members[np.linspace(0, members.size - 1, round(error * members.size)).astype(int)]
        preds[wrong] = 1 - c
    return {"crops": [f"c{i}.png" for i in range(labels.size)], "labels": labels.tolist(),
            "groups": np.repeat(np.arange(PHOTOS), PER_PHOTO).tolist(), "pytorch": preds.tolist(),
            "tflite_int8": preds.tolist()}


def curve_points(errors: list[float], crops: list[float]) -> list[dict]:
    return [{"name": f"row{i}", "crops": n, "predictions": predictions_with_error(e)}
            for i, (e, n) in enumerate(zip(errors, crops))]


def test_curve_extrapolates_a_falling_error_with_an_interval_around_it():
    curve = learning_curve(curve_points([0.2, 0.15, 0.1125], [200, 400, 800]), target=0.93, resamples=300)
    factor = curve["factor_per_doubling"]
    assert factor["value"] == pytest.approx(0.75, abs=0.005)
    assert factor["ci"][0] < factor["value"] < factor["ci"][1] < 1
    expected = math.log(0.07 / 0.1125) / math.log(0.75)
    assert curve["doublings"]["value"] == pytest.approx(expected, abs=0.05)
    assert curve["crops_multiple"]["value"] == pytest.approx(2 ** curve["doublings"]["value"])
    lo, hi = curve["crops_multiple"]["ci"]
    assert lo < curve["crops_multiple"]["value"] < hi
    assert [p["int8_balanced_accuracy"] for p in curve["points"]] == pytest.approx([0.8, 0.85, 0.8875], abs=1e-3)
    assert "0.75 per doubling" in markdown(curve)
    assert f"({800 * curve['crops_multiple']['value']:,.0f} per fold)" in markdown(curve)


def test_points_are_ordered_by_crops_with_the_local_factor_between_neighbours():
    # the curve flattens: error x 0.75 from 200 to 400 crops, then x 0.9 per doubling over two doublings
    curve = learning_curve(curve_points([0.1215, 0.2, 0.15], [1600, 200, 400]), resamples=50)
    assert [p["training_crops"] for p in curve["points"]] == [200, 400, 1600]
    local = [p["factor_per_doubling_from_previous"] for p in curve["points"]]
    assert local[0] is None
    assert local[1:] == pytest.approx([0.75, 0.9], abs=0.01)
    assert 0.75 < curve["factor_per_doubling"]["value"] < 0.9


def test_a_flat_curve_never_reaches_the_target():
    curve = learning_curve(curve_points([0.15, 0.15], [400, 800]), target=0.93, resamples=200)
    assert curve["factor_per_doubling"]["value"] == pytest.approx(1.0)
    assert curve["doublings"]["value"] is None and curve["crops_multiple"]["value"] is None
    assert "would take never" in markdown(curve)
    json.dumps(curve, allow_nan=False)  # no inf or nan in the results file


def test_curve_refuses_unpaired_heads_and_a_single_amount_of_crops():
    points = curve_points([0.2, 0.15], [400, 800])
    points[1]["predictions"]["crops"] = list(reversed(points[1]["predictions"]["crops"]))
    with pytest.raises(ValueError, match="other heads"):
        learning_curve(points, resamples=10)
    with pytest.raises(ValueError, match="two amounts"):
        learning_curve(curve_points([0.2, 0.15], [800, 800]), resamples=10)
    with pytest.raises(ValueError, match="one row per amount"):
        learning_curve(curve_points([0.2, 0.15, 0.1], [400, 800, 800]), resamples=10)


def write_row(work, name: str, fraction: float, epochs: int, train_counts: dict) -> dict:
    """A real_cv.py row on disk: one fold's fold.json with its predictions, run config and metrics, the fold's
    crops report."""
    row_dir = work / name
    (row_dir / "fold0").mkdir(parents=True)
    run_dir = row_dir / "fold0" / "run"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text(json.dumps({"epochs_trained": epochs}))
    # a full run's config may predate --data.train_fraction: no key, the datamodule's default
    data_config = {"source": "crops"} if fraction == 1 else {"source": "crops", "train_fraction": fraction}
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"data": data_config, "trainer": {"max_epochs": epochs}}))
    (row_dir / "fold0" / "fold.json").write_text(json.dumps({"run_dir": str(run_dir), **predictions_with_error(0.1)}))
    (work / "crops_fold0").mkdir(exist_ok=True)
    (work / "crops_fold0" / "prepare_report.json").write_text(json.dumps({"counts": {"train": train_counts}}))
    return {"folds": [0], "row_dir": str(row_dir)}


def test_points_come_from_the_runs_configs_on_disk_and_unequal_steps_are_refused(tmp_path):
    counts = {"helmet": 500, "no_helmet": 248}
    results = {"half": write_row(tmp_path, "half", 0.5, 160, counts),
               "full": write_row(tmp_path, "full", 1.0, 80, counts),
               "half_short": write_row(tmp_path, "half_short", 0.5, 80, counts)}
    points = load_points(results, ["half", "full"])
    assert [p["crops"] for p in points] == [374, 748]
    assert points[0]["predictions"]["labels"] == predictions_with_error(0.1)["labels"]
    with pytest.raises(SystemExit, match="unequal steps"):
        load_points(results, ["half_short", "full"])
    with pytest.raises(SystemExit, match="missing: not in real_cv.json"):
        load_points(results, ["missing", "full"])
