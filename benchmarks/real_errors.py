"""Where the int8 models go wrong on the real test crops: error rate by head size and by class.

    python benchmarks/real_errors.py [--work runs/real]

Reads what benchmarks/real_data.py left in --work (the crops with their manifest, and one export
directory per model) and runs each model_int8.tflite on the test crops. Head size is the short side
of the annotated box in source-photo pixels; the balanced accuracy comes with a 95 % interval from a
bootstrap over photo groups (near-duplicates form one; benchmarks/bootstrap.py). Writes benchmarks/results/real_errors.json and .md.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bootstrap import cluster_bootstrap  # noqa: E402
from benchmarks.report import write_results  # noqa: E402
from data.preprocessing import LABELS, PreprocessSpec  # noqa: E402
from data.sources import load_labelled  # noqa: E402
from export.runtimes import TFLiteRunner, softmax  # noqa: E402

SIZE_BINS = ((0, 12), (12, 16), (16, 20), (20, 30), (30, None))  # px, lower bound inclusive


def manifest_rows(crops: Path) -> dict[str, dict]:
    """Crop file name -> its manifest row (source photo, head box in the photo, ...)."""
    with open(crops / "manifest.csv", newline="", encoding="utf-8") as f:
        return {Path(r["crop"]).name: r for r in csv.DictReader(f)}


def head_side(row: dict) -> float:
    """Short side of the head box in source-photo pixels."""
    return min(float(row["box_x1"]) - float(row["box_x0"]), float(row["box_y1"]) - float(row["box_y0"]))


def analyse(export_dir: Path, crops: Path) -> dict:
    spec = PreprocessSpec.load(export_dir)
    test = load_labelled(str(crops), "test", spec)
    p_no_helmet = softmax(TFLiteRunner(export_dir / "model_int8.tflite", spec).logits(test.pixels))[:, 1]
    wrong = (p_no_helmet > 0.5).astype(int) != test.labels
    rows = [manifest_rows(crops)[Path(p).name] for p in test.paths]
    sides = np.array([head_side(r) for r in rows])
    interval = cluster_bootstrap(test.labels, [r.get("photo_group") or r["source"] for r in rows],
                                 {"tflite_int8": (p_no_helmet > 0.5).astype(int)})["tflite_int8"]
    by_size = []
    for lo, hi in SIZE_BINS:
        in_bin = (sides >= lo) & (sides < (hi if hi is not None else np.inf))
        by_size.append({"head_px": f"{lo}–{hi}" if hi is not None else f"≥{lo}", "crops": int(in_bin.sum()),
                        "errors": int(wrong[in_bin].sum())})
    return {
        "crops": len(test.labels),
        "errors": int(wrong.sum()),
        "int8_balanced_accuracy": interval,
        "errors_by_true_class": {c: int(wrong[test.labels == i].sum()) for i, c in enumerate(LABELS)},
        "by_head_size": by_size,
        "wrong": [{"crop": Path(test.paths[i]).name, "label": LABELS[test.labels[i]],
                   "p_no_helmet": round(float(p_no_helmet[i]), 3), "head_px": round(float(sides[i]), 1)}
                  for i in np.flatnonzero(wrong)],
    }


def markdown(results: dict) -> str:
    bins = [b["head_px"] for b in next(iter(results.values()))["by_head_size"]]
    lines = ["| model | int8 balanced acc. (95 % CI, photo bootstrap) | errors / crops | missed no_helmet | missed helmet | "
             + " | ".join(f"error rate, head {b} px" for b in bins) + " |",
             "|---|---|---|---|---|" + "---|" * len(bins)]
    for name, r in results.items():
        rates = " | ".join(f"{b['errors'] / b['crops']:.2f} ({b['errors']}/{b['crops']})" if b["crops"] else "–"
                           for b in r["by_head_size"])
        ci = r["int8_balanced_accuracy"]
        lines.append(f"| {name} | {ci['balanced_accuracy']:.3f} ({ci['ci'][0]:.3f}–{ci['ci'][1]:.3f}) | "
                     f"{r['errors']} / {r['crops']} | {r['errors_by_true_class']['no_helmet']} | "
                     f"{r['errors_by_true_class']['helmet']} | {rates} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "real")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    exports = sorted(d for d in args.work.glob("export_*") if (d / "model_int8.tflite").is_file())
    if not exports:
        raise SystemExit(f"error: no export_*/model_int8.tflite under {args.work}; run benchmarks/real_data.py first")
    results = {d.name.removeprefix("export_"): analyse(d, args.work / "crops") for d in exports}
    write_results(args.out, "real_errors", results, markdown(results))


if __name__ == "__main__":
    main()
