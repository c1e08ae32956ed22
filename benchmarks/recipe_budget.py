"""How long a recipe trains, all its stages together: one timed run on the rider photos.

    python -m benchmarks.recipe_budget configs/recipes/real_slim_mobilenet.yaml [--add-source NAME=FORMAT:ROOT]
    python -m benchmarks.recipe_budget configs/recipes/imagenet_mobilenet_v2.yaml --weights W.h5

Prepares helmet-kaggle-voc (70/10/20 by photo group, seed 0; plus any training-only --add-source), runs
the recipe with ``lightning_modules.recipe`` into a fresh directory, and records each stage's training
seconds and their total (the budget is 30 min per model on 2 cores; run it with nothing else on the
machine). ``--weights``: the pretrained features of the recipe's ``weights: true`` stages. The run stays in
``--work`` (``benchmarks.out_of_domain`` exports and tests it). Writes benchmarks/results/recipe_budget.json and
.md, one entry per recipe file.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import torch

from data.prepare import Dataset, prepare
from data.prepare.datasets import parse_source
from lightning_modules.recipe import run_recipe

from .cv_rows import RIDERS
from .report import REPO, RESULTS, markdown_table, merge_results, relative, write_results


def markdown(results: dict) -> str:
    rows = []
    for recipe, r in results.items():
        stages = ", ".join(f"{name} {s['fit_seconds']:.0f} s" for name, s in r["stages"].items())
        rows.append([f"`{recipe}`", r["training_crops"], stages, f"{r['fit_seconds_total'] / 60:.1f} min",
                     "yes" if r["schedules_completed"] else "NO", r["threads"]])
    return markdown_table(["recipe", "training crops", "stages", "training in all", "every schedule ran to its end",
                           "threads"], rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.recipe_budget", description=__doc__.splitlines()[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data" / "helmet-kaggle-voc")
    parser.add_argument("--add-source", action="append", default=[], metavar="NAME=FORMAT:ROOT",
                        type=lambda entry: parse_source(entry, training_only=[parse_source(entry).name]))
    parser.add_argument("--weights", type=Path, help="pretrained features for the recipe's weights stages")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "recipe_budget")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    name = args.recipe.stem + "".join(f"_plus_{d.name}" for d in args.add_source)
    crops = args.work / f"crops_{name}"
    report = prepare([Dataset("voc", args.root, RIDERS), *args.add_source], crops, force=True)
    run = args.work / name
    shutil.rmtree(run, ignore_errors=True)  # a timed run starts from nothing
    summary = run_recipe(args.recipe, run, crops, weights=args.weights)
    key = relative(args.recipe) + "".join(f" + {d.name}" for d in args.add_source)
    entry = {**summary, "training_crops": sum(report.counts["train"].values()), "threads": torch.get_num_threads(),
             "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}
    results = merge_results(args.out / "recipe_budget.json", {key: entry})
    write_results(args.out, "recipe_budget", results, markdown(results))


if __name__ == "__main__":
    main()
