"""Cross-validated accuracy on real photos: every crop of helmet-kaggle-voc is a test crop once.

    python benchmarks/real_cv.py [--models slim_mobilenet mobilenet_v2] [--folds 5]
        [--teacher mobilenet_v2] [--root ../shared/data/helmet-kaggle-voc] [--work runs/real_cv]
        [--init synthetic|scratch] [--margin 0.2] [--label NAME -- FIT OVERRIDES...]

The fixed split's 214 test crops (73 no_helmet) cannot tell 0.92 from 0.93: one no_helmet error is
0.7 pp. Here the photos are split into ``--folds`` test folds (``data.prepare --folds K --fold k``,
seed 0; the other folds give train and val in the usual 7:1 ratio), each model's real recipe
(configs/real_<model>.yaml, started from its synthetic run) is trained and exported to int8 once per
fold, and the test predictions of all folds are pooled: ~1,070 crops from 576 photos. The folds keep
near-duplicate photos together (data.duplicates; ``--duplicate-distance off`` splits by photo only,
which leaks copies of test photos into train). Intervals come from a bootstrap over photo groups
(benchmarks/bootstrap.py); differences between models and between float and int8 are paired on the
same photos.

``--teacher mobilenet_v2`` distils each fold's model from the same fold's MobileNetV2 (run that model
first), so no teacher has seen the fold's test photos; ``--teacher slim_mobilenet`` distils slim from
slim. Arguments after ``--`` go to ``lightning_modules.fit`` on top of the real config, to
cross-validate a variant of the recipe (e.g. ``--label no_smoothing -- --model.label_smoothing=0``).
Every variant is its own row, named by ``row_name``:
``<model>[_distilled_<teacher>][_scratch][_<label>][_margin<m>][_split<seed>][_photo_split]``. Crops cut
with another ``--margin``, folds drawn with another ``--split-seed`` or split by photo only need their own
--work; rows on the same heads are paired.
A fold already finished in --work is read back, not retrained. Writes benchmarks/results/real_cv.json
and real_cv.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bootstrap import cluster_bootstrap  # noqa: E402
from benchmarks.real_data import DEFAULT_ROOT, INITS, synthetic_checkpoint, train_real  # noqa: E402
from benchmarks.report import merge_results, write_results  # noqa: E402
from data.duplicates import DEFAULT_MAX_DISTANCE  # noqa: E402
from data.prepare import DEFAULT_MARGIN, parse_duplicate_distance  # noqa: E402

FOLD_FILE = "fold.json"


def fold_predictions(parity: dict, crops: Path) -> dict:
    """Per-crop labels, photo groups (near-duplicates share one) and PyTorch / int8 predictions on the test
    crops, from the export's parity report (the same images, already run through every artifact)."""
    with open(crops / "manifest.csv", newline="", encoding="utf-8") as f:
        group_of = {r["crop"]: r.get("photo_group") or r["source"] for r in csv.DictReader(f)}
    per_image = parity["per_image"]
    crop_names = [Path(p).resolve().relative_to(crops.resolve()).as_posix() for p in per_image["paths"]]
    return {"crops": crop_names, "groups": [group_of[c] for c in crop_names], "labels": per_image["labels"],
            **{a: per_image["predicted"][a] for a in ("pytorch", "tflite_int8")}}


def run_fold(arch: str, fold: int, crops: Path, work: Path, init_checkpoint: Path, overrides: list[str]) -> dict:
    """Train, export and predict one fold; kept in ``work/fold<k>/fold.json`` so a re-run resumes."""
    from export.to_tflite import export_checkpoint

    done = work / f"fold{fold}" / FOLD_FILE
    if done.is_file():
        return json.loads(done.read_text())
    run_dir = train_real(arch, crops, work / f"fold{fold}" / "runs", init_checkpoint, *overrides)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    export = export_checkpoint(Path(metrics["best_checkpoint"]), work / f"fold{fold}" / "export", force=True)
    artifacts = export.parity["artifacts"]
    result = {"fold": fold, "run_dir": str(run_dir), "export_dir": str(export.out),
              "fit_seconds": metrics["fit_seconds"],
              "balanced_accuracy": {a: artifacts[a]["balanced_accuracy"] for a in ("pytorch", "tflite_int8")},
              "int8_agreement": artifacts["tflite_int8"]["agreement_with_pytorch"],
              **fold_predictions(export.parity, crops)}
    done.write_text(json.dumps(result, indent=1) + "\n")
    return result


def pool(folds: list[dict]) -> dict:
    """Pooled predictions of all folds with photo-bootstrap intervals; per-fold figures for the spread."""
    labels = [y for f in folds for y in f["labels"]]
    groups = [g for f in folds for g in f["groups"]]
    preds = {a: [p for f in folds for p in f[a]] for a in ("pytorch", "tflite_int8")}
    stats = cluster_bootstrap(labels, groups, preds)
    agree = np.mean(np.array(preds["pytorch"]) == np.array(preds["tflite_int8"]))
    return {
        "folds": [f["fold"] for f in folds],
        "crops": len(labels), "photo_groups": stats["groups"],
        "pytorch": stats["pytorch"], "tflite_int8": stats["tflite_int8"],
        "int8_agreement": float(agree),
        "int8_per_fold": [f["balanced_accuracy"]["tflite_int8"] for f in folds],
        "pytorch_per_fold": [f["balanced_accuracy"]["pytorch"] for f in folds],
        "int8_agreement_per_fold": [f["int8_agreement"] for f in folds],
        "fit_seconds_median": statistics.median(f["fit_seconds"] for f in folds),
        "predictions": {"crops": [c for f in folds for c in f["crops"]], "labels": labels, "groups": groups, **preds},
    }


def compare_models(results: dict, reference: str | None = None) -> dict:
    """int8 balanced accuracy of every model minus the reference's (default: the first), paired on the same photos.

    Rows scored on other crops (another split, e.g. ``_photo_split``) cannot be paired and are listed
    under ``not_paired``."""
    names = [n for n, r in results.items() if not n.startswith("_") and "predictions" in r]
    if len(names) < 2:
        return {}
    reference = reference or names[0]
    names.remove(reference)
    names.insert(0, reference)
    first = results[reference]["predictions"]
    paired = [n for n in names if _heads(results[n]) == _heads(results[reference])]
    stats = cluster_bootstrap(first["labels"], first["groups"],
                              {n: results[n]["predictions"]["tflite_int8"] for n in paired})
    return {"reference": names[0], **{n: stats[n][f"minus_{names[0]}"] for n in paired[1:]},
            "not_paired": [n for n in names if n not in paired]}


def _heads(row: dict) -> list[str]:
    """Which heads a row's predictions are for, in order (results written before crops were kept: their photo groups)."""
    return row["predictions"].get("crops", row["predictions"]["groups"])


def _ci(stat: dict, scale: float = 1.0, fmt: str = ".3f") -> str:
    lo, hi = (scale * v for v in stat["ci"])
    return f"{scale * stat['balanced_accuracy']:{fmt}} ({lo:{fmt}}–{hi:{fmt}})"


def markdown(results: dict) -> str:
    lines = ["| model | folds | crops (photo groups) | int8 balanced acc. (95 % CI) | float balanced acc. (95 % CI) "
             "| int8 − float, pp (95 % CI) | int8 agreement | int8 per fold | median training (s) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        if name.startswith("_"):
            continue
        drop = r["tflite_int8"]["minus_pytorch"]
        lines.append(f"| {name} | {len(r['folds'])} | {r['crops']} ({r['photo_groups']}) | {_ci(r['tflite_int8'])} | "
                     f"{_ci(r['pytorch'])} | {100 * drop['value']:+.1f} ({100 * drop['ci'][0]:+.1f} to "
                     f"{100 * drop['ci'][1]:+.1f}) | {100 * r['int8_agreement']:.1f} % | "
                     f"{', '.join(f'{v:.3f}' for v in r['int8_per_fold'])} | {r['fit_seconds_median']:.0f} |")
    comparison = results.get("_comparison") or {}
    for name, d in comparison.items():
        if name not in ("reference", "not_paired"):
            lines.append(f"\nint8 {name} − {comparison['reference']}: {100 * d['value']:+.1f} pp "
                         f"(95 % CI {100 * d['ci'][0]:+.1f} to {100 * d['ci'][1]:+.1f}), paired on the same photos.")
    return "\n".join(lines)


def row_name(arch: str, args: argparse.Namespace) -> str:
    """The results row of a model and recipe variant; the default recipe is the bare model name."""
    suffixes = [f"distilled_{args.teacher}" if args.teacher else "",
                "scratch" if args.init == "scratch" else "",
                args.label,
                f"margin{args.margin:g}" if args.margin != DEFAULT_MARGIN else "",
                f"split{args.split_seed}" if args.split_seed else "",
                "photo_split" if args.duplicate_distance is None else ""]
    return "_".join([arch, *filter(None, suffixes)])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--models", nargs="+", default=["slim_mobilenet", "mobilenet_v2"])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only-folds", type=int, nargs="+", help="run just these folds (default: all)")
    parser.add_argument("--duplicate-distance", type=parse_duplicate_distance, default=DEFAULT_MAX_DISTANCE,
                        help="data.prepare's near-duplicate grouping ('off': split by photo only)")
    parser.add_argument("--teacher", help="distil from the same fold's run of this model, e.g. mobilenet_v2")
    parser.add_argument("--init", choices=INITS, default="synthetic",
                        help="start from the model's synthetic run (default) or from random weights")
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN, help="data.prepare's crop margin")
    parser.add_argument("--split-seed", type=int, default=0,
                        help="data.prepare's seed, which draws the folds (another seed needs its own --work)")
    parser.add_argument("--label", default="", help="names a variant given by fit overrides after --")
    parser.add_argument("fit_overrides", nargs="*", help="after --: passed to lightning_modules.fit")
    parser.add_argument("--synthetic-runs", type=Path, default=REPO / "runs" / "synthetic_pipeline" / "runs",
                        help="reuse synthetic runs from here when present (else train them)")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "real_cv")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--reference", default="slim_mobilenet",
                        help="the row every other row is compared with (when absent: this run's first model)")
    return parser


def main() -> None:
    from data.prepare import prepare_dataset

    parser = build_parser()
    args = parser.parse_args()
    if args.fit_overrides and not args.label:
        parser.error("fit overrides need a --label to name the variant")
    fold_ids = args.only_folds if args.only_folds is not None else list(range(args.folds))
    crops = {}
    for k in fold_ids:
        crops[k] = args.work / f"crops_fold{k}"
        report = crops[k] / "prepare_report.json"
        if not report.is_file():
            print(prepare_dataset(args.root, crops[k], fmt="voc", seed=args.split_seed, folds=args.folds, fold=k, force=True,
                                  duplicate_distance=args.duplicate_distance, margin=args.margin).summary())
            continue
        settings = json.loads(report.read_text())["settings"]
        wanted = {"folds": args.folds, "fold": k, "duplicate_distance": args.duplicate_distance,
                  "margin": args.margin, "seed": args.split_seed}
        if any(settings.get(key) != value for key, value in wanted.items()):
            raise SystemExit(f"{crops[k]} was prepared with other settings than {wanted}: use another --work")
    results = {}
    for arch in args.models:
        name = row_name(arch, args)
        init_checkpoint = (synthetic_checkpoint(arch, args.work, args.synthetic_runs)[0]
                           if args.init == "synthetic" else None)
        folds = []
        for k in fold_ids:
            overrides = list(args.fit_overrides)
            if args.teacher:
                teacher = args.work / args.teacher / f"fold{k}" / "export" / "model.pt"
                if not teacher.is_file():
                    raise SystemExit(f"--teacher {args.teacher}: fold {k} has no {teacher}; run that model first")
                overrides.append(f"--model.teacher_checkpoint={teacher}")
            folds.append(run_fold(arch, k, crops[k], args.work / name, init_checkpoint, overrides))
        results[name] = pool(folds)
    first = next(iter(results))
    results = merge_results(args.out / "real_cv.json", results)
    results["_comparison"] = compare_models(results, args.reference if args.reference in results else first)
    write_results(args.out, "real_cv", results, markdown(results))


if __name__ == "__main__":
    main()
