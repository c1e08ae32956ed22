"""Cross-validated accuracy on real photos: every rider crop of helmet-kaggle-voc is a test crop once.

    python -m benchmarks.real_cv [--models slim_mobilenet mobilenet_v2] [--folds 5] [--split-seed 0]
        [--add-source hardhat=yolo:../shared/data/helmet-hardhat-yolo] [--teacher ROW] [--init synthetic|scratch|ROW]
        [--label NAME --set trainer.max_epochs=40 ...] [--margin 0.2] [--duplicate-distance 8|off]
        [--work runs/real_cv] [--reference slim_mobilenet]
    python -m benchmarks.real_cv --recipe configs/recipes/imagenet_mobilenet_v2.yaml --weights W.h5

The rider photos are split into ``--folds`` test folds (``data.prepare --folds K --fold k``: grouped by
photo and its near-duplicates, stratified; the other folds give train and val 7:1). Each fold trains the
model's real recipe (configs/real_<model>.yaml, from its run on the synthetic data unless ``--init
scratch``) through ``pipeline.run_pipeline``, or exactly the ``--recipe`` file given (with ``--weights`` for its
stages that start from pretrained features; the row is named after the file), exports it, and keeps its test predictions; the folds are
pooled so every crop is a test crop exactly once. ``--add-source`` adds a dataset to every fold's
training split only: the rider folds, val and test stay exactly the same, so rows stay paired.
``--teacher ROW`` distils from the same fold's export of that row (run it first; named without its folds
suffix), which is what a recipe's teacher stage would train. ``--set KEY=VALUE`` changes the recipe
(YAML values, nested keys with dots) and needs a ``--label``. Intervals: photo-group bootstrap; every row
is compared with the ``--reference`` model's default row on the same folds, paired on the same heads.
A finished fold is read back, not retrained. Writes benchmarks/results/real_cv.json and real_cv.md; each
row's per-crop predictions stay in its folds' ``<work>/<row>/fold<k>/fold.json`` and, pooled, in
real_cv_predictions.json (what a clone without the fold runs pairs).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from data.duplicates import DEFAULT_MAX_DISTANCE
from data.errors import ToolchainError
from data.prepare import DEFAULT_MARGIN, Dataset, prepare
from data.prepare.cli import parse_duplicate_distance
from data.prepare.datasets import parse_source
from export.artifacts import write_text

from .cv_pool import across_splits, compare_rows, markdown, pool, rows_of
from .cv_rows import (PREDICTIONS_FILE, RIDERS, FoldRunner, RowSpec, folds_on_disk, folds_suffix, parse_settings,
                      reference_row, row_predictions, stored_predictions)
from .report import REPO, RESULTS, export_footprint, merge_results, relative, write_results


def prepare_folds(args: argparse.Namespace) -> dict[int, Path]:
    """Each fold's crops (riders plus any --add-source), prepared once per --work and checked on reuse."""
    datasets = [Dataset("voc", args.root, RIDERS), *args.add_source]
    crops = {}
    for k in args.fold_ids:
        crops[k] = args.work / "".join([f"crops_fold{k}", *(f"_plus_{d.name}" for d in args.add_source)])
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
    return crops


def recipe_row(recipe: Path, weights: Path | None) -> dict:
    """What a --recipe row records: the recipe file (relative to the repository), the architecture its last stage
    trains, and the weights file, each checked before any fold starts."""
    from lightning_modules.fit import load_config
    from lightning_modules.recipe import check_weights, load_recipe

    try:
        stages = load_recipe(recipe)
        weights = check_weights(stages, weights)
    except ToolchainError as e:
        raise SystemExit(f"error: {e}") from None
    arch = load_config(*stages[-1].configs).get("model", {}).get("arch", "slim_mobilenet")
    return {"recipe": relative(recipe), "model": arch, "weights": str(weights) if weights else None}


def run_row(spec: RowSpec, args: argparse.Namespace, crops: dict[int, Path]) -> dict:
    runner = FoldRunner(spec, args.work, args.synthetic_runs)
    folds = [runner.run(k, crops[k], args.reexport) for k in args.fold_ids]
    return {"settings": spec.settings(), **pool(folds), "row_dir": relative(args.work / spec.name),
            "export_footprint": export_footprint(REPO / folds[0]["export_dir"])}


def summarise(results: dict, reference: str, stored: dict) -> dict:
    """Paired comparisons and the across-splits table over every row of the results file. A row whose
    predictions are neither on disk nor ``stored`` (measured on another machine before they were stored)
    keeps its figures and the comparison recorded then, marked ``recorded``."""
    recorded = (results.get("_comparison") or {}).get("rows", {})
    for name, row in rows_of(results):
        if "predictions" not in row and (folds_on_disk(row) or name in stored):
            row["predictions"] = row_predictions(name, row, stored)
    results["_comparison"] = compare_rows(results, lambda s: reference_row(reference, s))
    for name, row in rows_of(results):
        if "predictions" not in row and name in recorded:
            results["_comparison"]["rows"][name] = {**recorded[name], "recorded": True}
    results["_across_splits"] = across_splits(results, lambda s: RowSpec.from_settings(s).recipe_name, reference)
    return results


def one_row_a_line(rows: dict) -> str:
    """JSON with each row's predictions on one line: small in git and in its diffs."""
    return "{\n" + ",\n".join(f"{json.dumps(n)}: {json.dumps(r, separators=(',', ':'))}" for n, r in rows.items()) + "\n}\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.real_cv", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data" / "helmet-kaggle-voc")
    parser.add_argument("--models", nargs="+", default=["slim_mobilenet", "mobilenet_v2"])
    parser.add_argument("--recipe", type=Path, help="run exactly this recipe file on every fold (instead of --models)")
    parser.add_argument("--weights", type=Path, help="the pretrained features file of --recipe's weights stages")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only-folds", type=int, nargs="+", help="run just these folds (default: all)")
    parser.add_argument("--duplicate-distance", type=parse_duplicate_distance, default=DEFAULT_MAX_DISTANCE)
    parser.add_argument("--add-source", action="append", default=[], metavar="NAME=FORMAT:ROOT",
                        type=lambda entry: parse_source(entry, training_only=[parse_source(entry).name]),
                        help="a dataset added to every fold's training split only; repeatable")
    parser.add_argument("--teacher", help="distil from the same fold's export of this row (named without its folds suffix)")
    parser.add_argument("--init", default="synthetic", help="synthetic (the model's synthetic run), scratch, or a row "
                        "whose fold exports each fold starts from (e.g. a row trained with a second source)")
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN, help="data.prepare's crop margin")
    parser.add_argument("--split-seed", type=int, default=0, help="data.prepare's seed, which draws the folds")
    parser.add_argument("--label", default="", help="names a variant given by --set")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="change the recipe, e.g. trainer.max_epochs=40 or model.lr=0.001; repeatable")
    parser.add_argument("--synthetic-runs", type=Path, help="reuse synthetic runs from here (default: WORK/synthetic)")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "real_cv")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--reference", default="slim_mobilenet",
                        help="every row is compared with this model's default row on the same folds")
    parser.add_argument("--report-only", action="store_true", help="only re-pool and re-compare the rows on disk")
    parser.add_argument("--reexport", action="store_true",
                        help="export finished folds again from their checkpoints (after a change to the export)")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    overrides = parse_settings(args.settings)
    if overrides and not args.label:
        parser.error("--set needs a --label to name the variant")
    if args.recipe and (overrides or args.teacher or args.init != "synthetic"):
        parser.error("--recipe runs its file as it is: no --set, --teacher or --init")
    args.fold_ids = args.only_folds if args.only_folds is not None else list(range(args.folds))
    args.synthetic_runs = args.synthetic_runs or args.work / "synthetic"
    results = {}
    if not args.report_only:
        crops = prepare_folds(args)
        recipe = recipe_row(args.recipe, args.weights) if args.recipe else {}
        for arch in [recipe["model"]] if recipe else args.models:
            spec = RowSpec(arch, args.teacher, args.init, args.label, overrides, [d.name for d in args.add_source],
                           args.margin, args.split_seed, args.folds, args.duplicate_distance,
                           recipe.get("recipe"), recipe.get("weights"))
            results[spec.name] = run_row(spec, args, crops)
    stored = stored_predictions(args.out)
    results = summarise(merge_results(args.out / "real_cv.json", results), args.reference, stored)
    predictions = {**stored, **{name: row["predictions"] for name, row in rows_of(results) if "predictions" in row}}
    write_text(args.out / PREDICTIONS_FILE, one_row_a_line(predictions))
    write_results(args.out, "real_cv", {n: {k: v for k, v in r.items() if k != "predictions"} for n, r in results.items()},
                  markdown(results))


if __name__ == "__main__":
    main()


__all__ = ["folds_suffix", "main"]
