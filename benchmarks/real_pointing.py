"""Does the int8 Grad-CAM follow the head, or just the middle of the crop? Over the cross-validation folds.

    python -m benchmarks.real_pointing [--rows slim_mobilenet ...] [--work runs/real_cv] [--margin 0.6] [--offset 0.6]

The test crops are centred on the head (20 % margin), so a map that ignores the image and peaks at the
centre wins the pointing game on every crop. For each fold of a cross-validated row this re-crops the same
test heads with a wider margin and a seeded random shift (``data.prepare --offset``: same folds), and scores
the fold's int8 export on both crop sets: pointing game and energy in the head box, each beside its
content-free baseline (a centre-peaked map, a uniform map), and the int8 balanced accuracy, pooled over the
folds (every rider head once). ``--overlays N`` copies N Grad-CAM overlays of fold 0 to docs/.
Writes benchmarks/results/real_pointing.json and .md.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from data.prepare import Dataset, prepare
from pipeline import explain_export

from .cv_rows import RIDERS
from .report import REPO, RESULTS, markdown_table, relative, write_results

KEYS = ("pointing_game", "energy_in_box")


def off_centre_crops(root: Path, work: Path, fold: int, settings: dict, margin: float, offset: float) -> Path:
    out = work / f"crops_fold{fold}_off_centre_m{margin:g}_o{offset:g}"
    if not (out / "prepare_report.json").is_file():
        prepare([Dataset("voc", root, RIDERS)], out, seed=settings["seed"], folds=settings["folds"], fold=fold,
                duplicate_distance=settings["duplicate_distance"], margin=margin, offset=offset, force=True)
    return out / "test"


def fold_crops(work: Path, k: int) -> Path:
    """Fold ``k``'s prepared crops (riders only, or with training-only datasets: the same test crops)."""
    for crops in [work / f"crops_fold{k}", *sorted(work.glob(f"crops_fold{k}_plus_*"))]:
        if (crops / "prepare_report.json").is_file():
            return crops
    raise SystemExit(f"no prepared crops of fold {k} in {work}: run benchmarks.real_cv first")


def pooled(summaries: list[dict]) -> dict:
    """Pointing game, energy in box (int8 and baselines) and int8 accuracy over folds, weighted by images."""
    n = np.array([s["images"] for s in summaries], float)
    out = {"images": int(n.sum())}
    for key in KEYS:
        for who in ("tflite_int8", "content_free_baseline"):
            out[f"{key}_{who}"] = float(np.average([s[key][who] for s in summaries], weights=n))
    same = [s["predicted_same_class_share"]["tflite_int8"] for s in summaries]
    out["int8_same_class_as_pytorch"] = float(np.average(same, weights=n))
    return out


def score_row(row: str, work: Path, root: Path, args: argparse.Namespace) -> dict:
    sets: dict[str, list[dict]] = {"centred (margin 0.2)": [], f"off-centre (margin {args.margin:g}, shift ≤ {args.offset:g})": []}
    for fold_dir in sorted((work / row).glob("fold*/export")):
        k = int(fold_dir.parent.name.removeprefix("fold"))
        crops = fold_crops(work, k)
        settings = json.loads((crops / "prepare_report.json").read_text())["settings"]
        overlays = work / row / f"fold{k}" / "explain" if (k == 0 and args.overlays) else None
        centred = explain_export(fold_dir, crops / "test", out=overlays)
        sets["centred (margin 0.2)"].append(centred)
        shifted = off_centre_crops(root, work, k, settings, args.margin, args.offset)
        sets[list(sets)[1]].append(explain_export(fold_dir, shifted))
        if overlays is not None:
            copy_overlays(overlays, row, args.overlays)
    return {label: pooled(summaries) for label, summaries in sets.items() if summaries}


def copy_overlays(folder: Path, row: str, n: int) -> None:
    docs = REPO / "docs" / "images"
    docs.mkdir(parents=True, exist_ok=True)
    for i, png in enumerate(sorted((folder / "overlays").glob("*.png"))[:n]):
        shutil.copyfile(png, docs / f"gradcam_{row}_{i}.png")


def markdown(results: dict) -> str:
    rows = [[row, crops, r["images"], f"{r['pointing_game_tflite_int8']:.2f} ({r['pointing_game_content_free_baseline']:.2f})",
             f"{r['energy_in_box_tflite_int8']:.2f} ({r['energy_in_box_content_free_baseline']:.2f})",
             f"{r['int8_same_class_as_pytorch']:.3f}"]
            for row, by_crops in results.items() if not row.startswith("_") for crops, r in by_crops.items()]
    return markdown_table(["row", "crops", "images", "int8 pointing game (centre map)", "int8 energy in box (uniform map)",
                           "int8 same class as PyTorch"], rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.real_pointing", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", default=["slim_mobilenet"], help="cross-validated rows (real_cv.py) in --work")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "real_cv")
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data" / "helmet-kaggle-voc")
    parser.add_argument("--margin", type=float, default=0.6, help="crop margin of the off-centre crops")
    parser.add_argument("--offset", type=float, default=0.6, help="largest shift, in box widths/heights")
    parser.add_argument("--overlays", type=int, default=0, help="copy this many fold-0 overlays to docs/images/")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results = {row: score_row(row, args.work, args.root, args) for row in args.rows}
    results["_settings"] = {"margin": args.margin, "offset": args.offset, "work": relative(args.work)}
    write_results(args.out, "real_pointing", results, markdown(results))


if __name__ == "__main__":
    main()
