"""Where the int8 models go wrong on the real test crops: error rate by dataset, class and head size.

    python -m benchmarks.real_errors [--rows slim_mobilenet ...] [--work runs/real_cv]

Reads cross-validated rows of benchmarks/results/real_cv.json (their pooled int8 test predictions, every
crop a test crop once: from the row's fold runs, or as real_cv stored them) and the fold manifests in --work
for each crop's head box. Head size is the short side of the annotated box in source-photo pixels; balanced
accuracy comes with a 95 % interval from the photo-group bootstrap. Writes benchmarks/results/real_errors.json
and .md, keeping the rows of earlier runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from data.manifest import read_manifest
from data.preprocessing import LABELS

from .bootstrap import cluster_bootstrap
from .cv_pool import ARTIFACTS, per_dataset
from .cv_rows import folds_on_disk, row_predictions, stored_predictions
from .report import REPO, RESULTS, markdown_table, merge_results, write_results

SIZE_BINS = ((0, 12), (12, 16), (16, 20), (20, 30), (30, None))  # px, lower bound inclusive


def head_sides(work: Path) -> dict[str, float]:
    """Test crop (as named in the predictions) -> short side of its head box in source-photo pixels."""
    sides = {}
    for manifest in work.glob("crops_fold*/manifest.csv"):
        for crop, row in read_manifest(manifest).items():
            if row["split"] == "test":
                sides[crop] = min(float(row["box_x1"]) - float(row["box_x0"]), float(row["box_y1"]) - float(row["box_y0"]))
    return sides


def analyse(predictions: dict, sides: dict[str, float]) -> dict:
    labels, preds = np.asarray(predictions["labels"]), np.asarray(predictions["tflite_int8"])
    datasets = np.asarray(predictions["datasets"])
    side = np.array([sides[c] for c in predictions["crops"]])
    wrong = preds != labels
    interval = cluster_bootstrap(labels, predictions["groups"], {"tflite_int8": preds})["tflite_int8"]
    scores = per_dataset(labels.tolist(), predictions["groups"], predictions["datasets"],
                         {a: predictions[a] for a in ARTIFACTS})
    by_size = []
    for lo, hi in SIZE_BINS:
        in_bin = (side >= lo) & (side < (hi if hi is not None else np.inf))
        by_size.append({"head_px": f"{lo}–{hi}" if hi is not None else f"≥{lo}", "crops": int(in_bin.sum()),
                        "errors": int(wrong[in_bin].sum())})
    return {
        "crops": int(labels.size), "errors": int(wrong.sum()), "int8_balanced_accuracy": interval,
        "errors_by_true_class": {c: int(wrong[labels == i].sum()) for i, c in enumerate(LABELS)},
        "errors_by_dataset": {d: {"crops": int((datasets == d).sum()), "errors": int(wrong[datasets == d].sum()),
                                  "int8_balanced_accuracy": scores[d]["tflite_int8"]} for d in scores},
        "by_head_size": by_size,
        "wrong": [{"crop": predictions["crops"][i], "label": LABELS[labels[i]], "head_px": round(float(side[i]), 1)}
                  for i in np.flatnonzero(wrong)],
    }


def markdown(results: dict) -> str:
    bins = [b["head_px"] for b in next(iter(results.values()))["by_head_size"]]
    rows = []
    for name, r in results.items():
        ci = r["int8_balanced_accuracy"]
        rows.append([name, f"{ci['balanced_accuracy']:.3f} ({ci['ci'][0]:.3f}–{ci['ci'][1]:.3f})",
                     f"{r['errors']} / {r['crops']}", r["errors_by_true_class"]["no_helmet"],
                     r["errors_by_true_class"]["helmet"],
                     ", ".join(f"{d} {v['errors']}/{v['crops']} ({v['int8_balanced_accuracy']['balanced_accuracy']:.3f})"
                               for d, v in r["errors_by_dataset"].items()),
                     *(f"{b['errors'] / b['crops']:.2f} ({b['errors']}/{b['crops']})" if b["crops"] else "–"
                       for b in r["by_head_size"])])
    return markdown_table(["row", "int8 balanced acc. (95 % CI)", "errors / crops", "missed no_helmet", "missed helmet",
                           "errors per dataset (int8 balanced acc.)", *(f"error rate, head {b} px" for b in bins)], rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.real_errors", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", help="rows of real_cv.json (default: every row scored in --work)")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "real_cv")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    cv = json.loads((args.out / "real_cv.json").read_text())
    stored = stored_predictions(args.out)
    names = args.rows or [n for n, r in cv.items() if not n.startswith("_") and (folds_on_disk(r) or n in stored)]
    sides = head_sides(args.work)
    results = merge_results(args.out / "real_errors.json",
                            {name: analyse(row_predictions(name, cv[name], stored), sides) for name in names})
    write_results(args.out, "real_errors", results, markdown(results))


if __name__ == "__main__":
    main()
