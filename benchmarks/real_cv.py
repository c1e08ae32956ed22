"""Cross-validated accuracy on real photos: every crop of helmet-kaggle-voc is a test crop once.

    python benchmarks/real_cv.py [--models slim_mobilenet mobilenet_v2] [--folds 5]
        [--teacher mobilenet_v2] [--root ../shared/data/helmet-kaggle-voc] [--work runs/real_cv]
        [--init synthetic|scratch] [--margin 0.2] [--split-seed 0] [--label NAME -- FIT OVERRIDES...]

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
--work. Every row is compared with the ``--reference`` model's default-recipe row on the same folds
(``slim_mobilenet``, ``slim_mobilenet_split1``, ...), paired on the same heads.
A fold already finished in --work is read back, not retrained. Writes benchmarks/results/real_cv.json
and real_cv.md; each row's pooled per-crop predictions, which the pairing needs, go to
``<work>/<row>/predictions.json``.
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
from data.prepare import DEFAULT_MARGIN
from data.prepare.cli import parse_duplicate_distance  # noqa: E402

FOLD_FILE = "fold.json"
PREDICTIONS_FILE = "predictions.json"


def fold_predictions(parity: dict, crops: Path) -> dict:
    """Per-crop labels, photo groups (near-duplicates share one) and PyTorch / int8 predictions on the test
    crops, from the export's parity report (the same images, already run through every artifact)."""
    with open(crops / "manifest.csv", newline="", encoding="utf-8") as f:
        group_of = {r["crop"]: r["photo_group"] for r in csv.DictReader(f)}
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
        "fit_seconds_per_fold": [f["fit_seconds"] for f in folds],
        "predictions": {"crops": [c for f in folds for c in f["crops"]], "labels": labels, "groups": groups, **preds},
    }


def compare_models(results: dict, reference: str = "slim_mobilenet") -> dict:
    """int8 balanced accuracy of every row minus the ``reference`` model's default-recipe row on the same
    folds (same split seed and grouping, default margin), paired on the same heads.

    A row whose reference row is absent or scored other heads is listed under ``not_paired``."""
    by_reference: dict[str, list[str]] = {}
    not_paired = []
    for name, row in results.items():
        if name.startswith("_") or "settings" not in row:
            continue
        ref = reference_row(reference, row["settings"])
        if name == ref:
            continue
        if ref in results and _heads(results[ref]) == _heads(row):
            by_reference.setdefault(ref, []).append(name)
        else:
            not_paired.append(name)
    rows = {}
    for ref, names in by_reference.items():
        first = results[ref]["predictions"]
        stats = cluster_bootstrap(first["labels"], first["groups"],
                                  {n: results[n]["predictions"]["tflite_int8"] for n in [ref, *names]})
        rows.update({n: {"reference": ref, **stats[n][f"minus_{ref}"]} for n in names})
    return {"reference_model": reference, "rows": rows, "not_paired": not_paired}


def across_splits(results: dict, reference: str = "slim_mobilenet") -> dict:
    """Recipes cross-validated on several fold splits (``--split-seed``): int8 balanced accuracy over all
    their splits (every head counted once per split, so the mean of the splits), and minus the
    ``reference`` model's default recipe on the same splits, paired on the same heads. The bootstrap
    draws photo groups, each with its heads in every split."""
    recipes: dict[str, dict[int, str]] = {}
    for name, row in results.items():
        if not name.startswith("_") and "settings" in row:
            settings = row["settings"]
            recipe = row_name(settings["model"], argparse.Namespace(**{**settings, "split_seed": 0}))
            recipes.setdefault(recipe, {})[settings["split_seed"]] = name
    reference_rows = recipes.get(reference, {})
    out = {}
    for recipe, rows in recipes.items():
        if len(rows) < 2 or not set(rows) <= set(reference_rows):
            continue
        seeds = sorted(rows)
        pairs = [(results[reference_rows[seed]]["predictions"], results[rows[seed]]["predictions"]) for seed in seeds]
        if any(ref.get("crops") != row.get("crops") for ref, row in pairs):
            continue
        labels = [y for ref, _ in pairs for y in ref["labels"]]
        groups = [g for ref, _ in pairs for g in ref["groups"]]
        ref_preds = [p for ref, _ in pairs for p in ref["tflite_int8"]]
        row_preds = [p for _, row in pairs for p in row["tflite_int8"]]
        stats = cluster_bootstrap(labels, groups, {reference: ref_preds, recipe: row_preds})
        out[recipe] = {"split_seeds": seeds, "rows": [rows[seed] for seed in seeds], "crops": len(labels),
                       "tflite_int8": {k: v for k, v in stats[recipe].items() if not k.startswith("minus_")},
                       "minus_reference": stats[recipe].get(f"minus_{reference}") if recipe != reference else None}
    return out


def reference_row(reference: str, settings: dict) -> str:
    """The row a variant is compared with: the reference model, default recipe, on the variant's folds."""
    same_folds = argparse.Namespace(margin=DEFAULT_MARGIN, split_seed=settings["split_seed"],
                                    duplicate_distance=settings["duplicate_distance"])
    return reference + folds_suffix(same_folds)


def _heads(row: dict) -> list[str]:
    """Which heads a row's predictions are for, in order (results written before crops were kept: their photo groups)."""
    return row["predictions"].get("crops", row["predictions"]["groups"])


def _ci(stat: dict, scale: float = 1.0, fmt: str = ".3f") -> str:
    lo, hi = (scale * v for v in stat["ci"])
    return f"{scale * stat['balanced_accuracy']:{fmt}} ({lo:{fmt}}–{hi:{fmt}})"


def markdown(results: dict) -> str:
    comparison = (results.get("_comparison") or {}).get("rows", {})
    lines = ["| row | folds | crops (photo groups) | int8 balanced acc. (95 % CI) | float balanced acc. (95 % CI) "
             "| int8 − float, pp (95 % CI) | int8 − reference row, pp (paired 95 % CI) | int8 agreement "
             "| int8 per fold | median training (s) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        if name.startswith("_"):
            continue
        d = comparison.get(name)
        versus = f"{_pp(d)} vs {d['reference']}" if d else "–"
        lines.append(f"| {name} | {len(r['folds'])} | {r['crops']} ({r['photo_groups']}) | {_ci(r['tflite_int8'])} | "
                     f"{_ci(r['pytorch'])} | {_pp(r['tflite_int8']['minus_pytorch'])} | {versus} | "
                     f"{100 * r['int8_agreement']:.1f} % | "
                     f"{', '.join(f'{v:.3f}' for v in r['int8_per_fold'])} | {r['fit_seconds_median']:.0f} |")
    repeated = results.get("_across_splits") or {}
    if repeated:
        lines += ["", "Over several fold splits (`--split-seed`), each head counted once per split:", "",
                  "| recipe | fold splits (seeds) | int8 balanced acc. (95 % CI) | int8 − reference recipe, pp "
                  "(paired 95 % CI) |", "|---|---|---|---|"]
        for recipe, r in repeated.items():
            versus = _pp(r["minus_reference"]) if r["minus_reference"] else "–"
            lines.append(f"| {recipe} | {', '.join(map(str, r['split_seeds']))} | {_ci(r['tflite_int8'])} | {versus} |")
    return "\n".join(lines)


def _pp(d: dict) -> str:
    return f"{100 * d['value']:+.1f} ({100 * d['ci'][0]:+.1f} to {100 * d['ci'][1]:+.1f})"


def row_name(arch: str, args: argparse.Namespace) -> str:
    """The results row of a model and recipe variant; the default recipe is the bare model name."""
    recipe = [f"distilled_{args.teacher}" if args.teacher else "",
              "scratch" if args.init == "scratch" else "",
              args.label,
              "_".join(f"plus_{getattr(d, 'name', d)}" for d in getattr(args, "add_source", None) or [])]
    return "_".join([arch, *filter(None, recipe)]) + folds_suffix(args)


def teacher_row(args: argparse.Namespace) -> str:
    """The row ``--teacher`` names: that model or recipe on the same crops and folds as the student."""
    return args.teacher + folds_suffix(args)


def folds_suffix(args: argparse.Namespace) -> str:
    """What every row name on other crops or folds than the default ones ends with."""
    suffixes = [f"margin{args.margin:g}" if args.margin != DEFAULT_MARGIN else "",
                f"split{args.split_seed}" if args.split_seed else "",
                "photo_split" if args.duplicate_distance is None else ""]
    return "".join(f"_{s}" for s in suffixes if s)


def row_settings(arch: str, args: argparse.Namespace) -> dict:
    """What a row was run with, kept in the results: the recipe, and the crops and folds it was scored on."""
    return {"model": arch, "teacher": args.teacher, "init": args.init, "label": args.label,
            "fit_overrides": args.fit_overrides, "margin": args.margin, "split_seed": args.split_seed,
            "folds": args.folds, "duplicate_distance": args.duplicate_distance,
            "add_source": [d.name for d in args.add_source]}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--models", nargs="+", default=["slim_mobilenet", "mobilenet_v2"])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only-folds", type=int, nargs="+", help="run just these folds (default: all)")
    parser.add_argument("--duplicate-distance", type=parse_duplicate_distance, default=DEFAULT_MAX_DISTANCE,
                        help="data.prepare's near-duplicate grouping ('off': split by photo only)")
    parser.add_argument("--teacher", help="distil from the same fold's run of this row in --work, named without "
                        "its folds suffix (e.g. mobilenet_v2, or slim_mobilenet with --split-seed 1)")
    parser.add_argument("--init", choices=INITS, default="synthetic",
                        help="start from the model's synthetic run (default) or from random weights")
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN, help="data.prepare's crop margin")
    parser.add_argument("--split-seed", type=int, default=0,
                        help="data.prepare's seed, which draws the folds (another seed needs its own --work)")
    parser.add_argument("--label", default="", help="names a variant given by fit overrides after --")
    parser.add_argument("--add-source", action="append", default=[], type=training_only_source,
                        metavar="NAME=FORMAT:ROOT", help="a second dataset added to every fold's training split only "
                        "(the rider folds stay the same, so rows stay paired); repeatable")
    parser.add_argument("fit_overrides", nargs="*", help="after --: passed to lightning_modules.fit")
    parser.add_argument("--synthetic-runs", type=Path, default=REPO / "runs" / "synthetic_pipeline" / "runs",
                        help="reuse synthetic runs from here when present (else train them)")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "real_cv")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--reference", default="slim_mobilenet",
                        help="every row is compared with this model's default-recipe row on the same folds")
    return parser


def training_only_source(entry: str):
    from data.prepare.datasets import parse_source

    dataset = parse_source(entry)
    return type(dataset)(dataset.format, dataset.root, dataset.name, training_only=True)


def main() -> None:
    from data.prepare import prepare
    from data.prepare.datasets import Dataset

    parser = build_parser()
    args = parser.parse_args()
    if args.fit_overrides and not args.label:
        parser.error("fit overrides need a --label to name the variant")
    fold_ids = args.only_folds if args.only_folds is not None else list(range(args.folds))
    crops = {}
    datasets = [Dataset("voc", args.root, "riders"), *args.add_source]
    for k in fold_ids:
        crops[k] = args.work / ("".join([f"crops_fold{k}", *(f"_plus_{d.name}" for d in args.add_source)]))
        report = crops[k] / "prepare_report.json"
        if not report.is_file():
            print(prepare(datasets, crops[k], seed=args.split_seed, folds=args.folds, fold=k, force=True,
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
                teacher = args.work / teacher_row(args) / f"fold{k}" / "export" / "model.pt"
                if not teacher.is_file():
                    raise SystemExit(f"--teacher {args.teacher}: fold {k} has no {teacher}; run that model first")
                overrides.append(f"--model.teacher_checkpoint={teacher}")
            folds.append(run_fold(arch, k, crops[k], args.work / name, init_checkpoint, overrides))
        results[name] = {"settings": row_settings(arch, args), **pool(folds)}
        predictions = args.work / name / PREDICTIONS_FILE
        predictions.write_text(json.dumps(results[name]["predictions"]) + "\n")
        predictions = predictions.resolve()
        results[name]["predictions_file"] = str(predictions.relative_to(REPO) if predictions.is_relative_to(REPO)
                                                else predictions)
    results = merge_results(args.out / "real_cv.json", results)
    for name, row in results.items():
        if not name.startswith("_") and "predictions" not in row:
            row["predictions"] = load_predictions(name, row)
    results["_comparison"] = compare_models(results, args.reference)
    results["_across_splits"] = across_splits(results, args.reference)
    summary = {name: {k: v for k, v in row.items() if k != "predictions"} for name, row in results.items()}
    write_results(args.out, "real_cv", summary, markdown(results))


def load_predictions(name: str, row: dict) -> dict:
    """A row's per-crop predictions, kept next to its folds in --work (too large for the results file)."""
    path = REPO / row.get("predictions_file", "")
    if not path.is_file():
        raise SystemExit(f"{name}: no per-crop predictions at {path}; re-run its real_cv.py command to pool them")
    return json.loads(path.read_text())


if __name__ == "__main__":
    main()
