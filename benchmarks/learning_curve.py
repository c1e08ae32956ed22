"""How int8 balanced accuracy grows with the training crops, and how many crops a target would take.

    python -m benchmarks.learning_curve [--rows ROW ...] [--target 0.93]

Reads cross-validated rows of benchmarks/results/real_cv.json that trained on a share of each fold's
training crops (``--data.train_fraction``) for as many optimiser steps as the full run, so that only
the data differs between them. Fits a power law, error = a * crops^-b (a straight line in log-log),
through their pooled int8 error rates (1 - balanced accuracy): each doubling of the crops multiplies
the error by 2^-b. Extrapolating that line gives the crops the ``--target`` would take, as a multiple
of the crops the full run had. The intervals come from the photo-group bootstrap of real_cv.py, paired:
every row is rescored on the same resampled photos. Needs the rows' fold runs on disk (their
predictions, run configs and metrics). Writes benchmarks/results/learning_curve.json and .md.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import statistics
from pathlib import Path

import numpy as np
import yaml


from benchmarks.bootstrap import balanced_accuracy, cluster_resamples
from benchmarks.cv_rows import row_dir, row_folds, row_predictions
from benchmarks.report import REPO, write_results
from data.datamodule import HelmetDataModule

DEFAULT_ROWS = ("slim_mobilenet_train25_320epochs", "slim_mobilenet_train50_160epochs", "slim_mobilenet")
STEP_TOLERANCE = 0.02  # relative: fraction x epochs may differ this much between rows
# runs from before the option existed have no train_fraction in their config: they used the default
DEFAULT_TRAIN_FRACTION = inspect.signature(HelmetDataModule).parameters["train_fraction"].default


def fit_power_law(crops: np.ndarray, errors: np.ndarray) -> tuple[float, float]:
    """(log2 a, slope) of log2 error = log2 a + slope * log2 crops; 2**slope is the factor per doubling."""
    slope, intercept = np.polyfit(np.log2(crops), np.log2(errors), 1)
    return float(intercept), float(slope)


def doublings_to_target(intercept: float, slope: float, full_crops: float, target_error: float) -> float:
    """How many doublings of ``full_crops`` the fitted line needs to reach ``target_error``; inf if it
    never falls (negative: the target is reached with fewer crops)."""
    if slope >= 0:
        return math.inf
    return (math.log2(target_error) - intercept) / slope - math.log2(full_crops)


def fold_runs(name: str, row: dict) -> tuple[Path, list[dict]]:
    """A row's work directory (real_cv.py's --work) and, per fold, the train fraction its run was
    configured with (the run's saved config.yaml) and the epochs it trained (its metrics.json)."""
    runs = []
    for fold, fold_run in zip(row["folds"], row_folds(name, row)):
        run_dir = Path(fold_run["run_dir"])
        data_config = yaml.safe_load((run_dir / "config.yaml").read_text()).get("data") or {}
        runs.append({"fold": fold, "train_fraction": data_config.get("train_fraction", DEFAULT_TRAIN_FRACTION),
                     "epochs": json.loads((run_dir / "metrics.json").read_text())["epochs_trained"]})
    return row_dir(row).parent, runs


def training_crops(work: Path, fold: int) -> int:
    """A fold's training crops, from data.prepare's report of the fold's crops in ``work``."""
    report = work / f"crops_fold{fold}" / "prepare_report.json"
    if not report.is_file():
        raise SystemExit(f"no crops report at {report}; re-run real_cv.py to prepare fold {fold}")
    return sum(json.loads(report.read_text())["counts"]["train"].values())


def learning_curve(points: list[dict], target: float = 0.93, resamples: int = 2000, seed: int = 0,
                   level: float = 0.95) -> dict:
    """Fit and extrapolate the curve through ``points``: dicts with ``name``, ``crops`` (training crops
    per fold) and ``predictions`` (real_cv.py's pooled per-crop predictions; the same heads in every point)."""
    amounts = [p["crops"] for p in points]
    if len(amounts) < 2 or len(set(amounts)) < len(amounts):
        raise ValueError(f"a learning curve needs rows trained on at least two amounts of crops, one row "
                         f"per amount (got {amounts})")
    points = sorted(points, key=lambda p: p["crops"])
    first = points[0]["predictions"]
    for p in points[1:]:
        if p["predictions"]["crops"] != first["crops"]:
            raise ValueError(f"{p['name']} scored other heads than {points[0]['name']}; they cannot be paired")
    labels = np.asarray(first["labels"])
    preds = [np.asarray(p["predictions"]["tflite_int8"]) for p in points]
    crops = np.array([p["crops"] for p in points], dtype=float)
    full = crops.max()

    def fit(idx):
        errors = np.array([1 - balanced_accuracy(labels[idx], pred[idx]) for pred in preds])
        intercept, slope = fit_power_law(crops, np.maximum(errors, 1e-6))
        return errors, 2 ** slope, doublings_to_target(intercept, slope, full, 1 - target)

    errors, factor, doublings = fit(np.arange(labels.size))
    draws = np.array([fit(idx)[1:] for idx in cluster_resamples(first["groups"], resamples, seed)])
    tail = 100 * (1 - level) / 2

    def interval(values):
        # no interpolation: a resample whose curve does not fall needs inf doublings
        return [float(np.percentile(values, q, method="inverted_cdf")) for q in (tail, 100 - tail)]

    doublings_ci = interval(draws[:, 1])
    return {
        "target_balanced_accuracy": target,
        "points": [{"row": p["name"], "training_crops": p["crops"], "int8_balanced_accuracy": 1 - e,
                    "factor_per_doubling_from_previous": None if i == 0 else _local_factor(points[i - 1]["crops"],
                                                                                           errors[i - 1], p["crops"], e)}
                   for i, (p, e) in enumerate(zip(points, errors))],
        "factor_per_doubling": {"value": factor, "ci": interval(draws[:, 0])},
        "doublings": {"value": _finite(doublings), "ci": [_finite(d) for d in doublings_ci]},
        "crops_multiple": {"value": _multiple(doublings), "ci": [_multiple(d) for d in doublings_ci]},
        "resamples": resamples, "level": level, "photo_groups": len(set(first["groups"])),
        "note": "null: the fitted curve does not fall, so no amount of crops reaches the target",
    }


def _local_factor(crops_before: float, error_before: float, crops: float, error: float) -> float:
    """The error's factor per doubling between two neighbouring points of the curve."""
    return float((error / error_before) ** (1 / math.log2(crops / crops_before)))


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _multiple(doublings: float) -> float | None:
    """2**doublings, None when it is out of float range (JSON has no inf)."""
    return 2.0 ** doublings if doublings < 1000 else None


def load_points(results: dict, rows: list[str]) -> list[dict]:
    """Each row's training crops per fold and pooled predictions; refuses rows of unequal training steps."""
    points, steps = [], {}
    for name in rows:
        if name not in results:
            raise SystemExit(f"{name}: not in real_cv.json; run its real_cv.py command first")
        row = results[name]
        work, runs = fold_runs(name, row)
        steps[name] = statistics.median(r["train_fraction"] * r["epochs"] for r in runs)
        points.append({"name": name,
                       "crops": statistics.median(r["train_fraction"] * training_crops(work, r["fold"]) for r in runs),
                       "predictions": row_predictions(name, row)})
    if max(steps.values()) > (1 + STEP_TOLERANCE) * min(steps.values()):
        raise SystemExit("rows trained for unequal steps (train fraction x epochs: "
                         + ", ".join(f"{n} {s:g}" for n, s in steps.items())
                         + "); the curve would mix data with training length")
    return points


def markdown(curve: dict) -> str:
    lines = ["| row | training crops per fold | int8 balanced accuracy | error × per doubling since the row above |",
             "|---|---|---|---|"]
    lines += [f"| {p['row']} | {p['training_crops']:.0f} | {p['int8_balanced_accuracy']:.3f} | "
              f"{'–' if p['factor_per_doubling_from_previous'] is None else format(p['factor_per_doubling_from_previous'], '.2f')} |"
              for p in curve["points"]]
    factor, multiple, doublings = curve["factor_per_doubling"], curve["crops_multiple"], curve["doublings"]

    def times(value, fmt):
        return "never" if value is None else format(value, fmt) + "×"

    lines += ["", f"Power-law fit through all rows: error × {factor['value']:.2f} per doubling of the crops "
              f"({factor['ci'][0]:.2f} to {factor['ci'][1]:.2f}); {curve['target_balanced_accuracy']:g} would take "
              f"{times(multiple['value'], '.0f')} the full run's crops"
              + ("" if multiple["value"] is None
                 else f" ({multiple['value'] * curve['points'][-1]['training_crops']:,.0f} per fold)")
              + ("" if doublings["value"] is None else f", {doublings['value']:.1f} doublings")
              + f" ({times(multiple['ci'][0], '.0f')} to {times(multiple['ci'][1], '.0f')}; "
              f"{100 * curve['level']:g} % photo-group bootstrap; never: the curve does not fall)."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", nargs="+", default=list(DEFAULT_ROWS),
                        help="real_cv.json rows at equal training steps (default: %(default)s)")
    parser.add_argument("--target", type=float, default=0.93, help="int8 balanced accuracy to extrapolate to")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "real_cv.json")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    if not 0 < args.target < 1:
        parser.error("--target must be a balanced accuracy between 0 and 1")
    if not args.results.is_file():
        raise SystemExit(f"no {args.results}; run benchmarks/real_cv.py first")
    curve = learning_curve(load_points(json.loads(args.results.read_text()), args.rows), args.target)
    write_results(args.out, "learning_curve", curve, markdown(curve))


if __name__ == "__main__":
    main()
