"""Does the int8 Grad-CAM follow the head, or just the middle of the crop?

    python benchmarks/real_pointing.py [--work runs/real] [--margin 0.6] [--offset 0.6]

The real test crops are centred on the head (20 % margin), so a map that ignores the image and peaks
at the centre wins the pointing game on every crop. This re-crops the same test heads from the photos
with a wider margin and a seeded random shift (``data.prepare --offset``), so the head is often off
the centre, and scores each int8 model left in --work by benchmarks/real_data.py (``export_*``) on
both crop sets: pointing game and energy in the head box, each beside its content-free baseline
(a centre-peaked map, a uniform map), and the int8 balanced accuracy. Writes
benchmarks/results/real_pointing.json and .md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.real_data import DEFAULT_ROOT  # noqa: E402
from benchmarks.report import write_results  # noqa: E402
from data.preprocessing import LABELS  # noqa: E402


def score(export_dir: Path, test_dir: Path) -> dict:
    import torch
    from torchmetrics.functional.classification import multiclass_accuracy

    from data.sources import labelled_files
    from explain.gradcam import explain_images, load_runtimes
    from data.images import expand_paths, load_images
    from explain.metrics import peak_cell

    runtimes = load_runtimes(export_dir, saved_model=False)
    test = load_images(expand_paths([test_dir]), runtimes.spec)
    report = explain_images(runtimes, test.pixels, boxes=test.boxes)
    label_of = {p.resolve(): label for p, label in labelled_files(test_dir)}
    labels = torch.tensor([label_of[p.resolve()] for p in test.paths])
    predicted = torch.tensor([LABELS.index(r["runtimes"]["tflite_int8"]["predicted"]) for r in report["images"]])
    pointing, energy = report["summary"]["pointing_game"], report["summary"]["energy_in_box"]
    peaks = [peak_cell(r["runtimes"]["tflite_int8"]["map"]) for r in report["images"]]
    h, w = np.asarray(report["images"][0]["runtimes"]["tflite_int8"]["map"]).shape
    _, modal_count = np.unique([r * w + c for r, c in peaks], return_counts=True)
    return {
        "images": len(test.paths),
        "int8_balanced_acc": float(multiclass_accuracy(predicted, labels, len(LABELS), average="macro")),
        "int8_pointing_game": pointing["tflite_int8"],
        "centre_map_pointing_game": pointing["content_free_baseline"],
        "int8_energy_in_box": energy["tflite_int8"],
        "uniform_map_energy_in_box": energy["content_free_baseline"],
        "map_shape": [int(h), int(w)],
        # a map that follows the head moves its peak with it; one peak cell for most crops means it does not
        "int8_peaks_in_most_common_cell": float(modal_count.max() / len(peaks)),
        "int8_peaks_on_map_border": float(np.mean([r in (0, h - 1) or c in (0, w - 1) for r, c in peaks])),
    }


def markdown(results: dict) -> str:
    lines = ["| model | crops | int8 balanced acc. | int8 pointing game (centre map) | int8 energy in box (uniform map) "
             "| map | int8 peaks in the most common cell | int8 peaks on the map border |",
             "|---|---|---|---|---|---|---|---|"]
    for name, by_crops in results.items():
        if name.startswith("_"):
            continue
        for crops, r in by_crops.items():
            lines.append(f"| {name} | {crops} | {r['int8_balanced_acc']:.3f} | {r['int8_pointing_game']:.2f} "
                         f"({r['centre_map_pointing_game']:.2f}) | {r['int8_energy_in_box']:.2f} "
                         f"({r['uniform_map_energy_in_box']:.2f}) | {'×'.join(map(str, r['map_shape']))} | "
                         f"{r['int8_peaks_in_most_common_cell']:.2f} | {r['int8_peaks_on_map_border']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    from data.prepare import prepare_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "real",
                        help="benchmarks/real_data.py's work directory (crops/ and export_*/)")
    parser.add_argument("--margin", type=float, default=0.6, help="crop margin of the off-centre crops")
    parser.add_argument("--offset", type=float, default=0.6, help="largest shift, in box widths/heights")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    exports = sorted(p for p in args.work.glob("export_*") if (p / "model_int8.tflite").is_file())
    if not exports:
        parser.error(f"no export_*/model_int8.tflite in {args.work}: run benchmarks/real_data.py first")
    off_centre = args.work / "crops_off_centre"
    centred = json.loads((args.work / "crops" / "prepare_report.json").read_text())["settings"]
    prepared = prepare_dataset(args.root, off_centre, fmt="voc", seed=0, margin=args.margin, offset=args.offset,
                               force=True, duplicate_distance=centred.get("duplicate_distance"))  # the same split
    crop_sets = {"centred (margin 0.2)": args.work / "crops" / "test",
                 f"off-centre (margin {args.margin:g}, shift ≤ {args.offset:g})": off_centre / "test"}
    results = {export.name.removeprefix("export_"): {label: score(export, test_dir) for label, test_dir in crop_sets.items()}
               for export in exports}
    results["_settings"] = {"margin": args.margin, "offset": args.offset, "counts": prepared.counts}
    write_results(args.out, "real_pointing", results, markdown(results))


if __name__ == "__main__":
    main()
