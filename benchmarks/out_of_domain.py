"""Out of domain: models trained on the rider photos, tested on every head of a dataset they never saw.

    python -m benchmarks.out_of_domain [--recipes configs/recipes/real_slim_mobilenet.yaml ...] [--work runs/recipe_budget]
        [--test-root ../shared/data/helmet-hardhat-yolo]

Each recipe's run on the rider split (``benchmarks.recipe_budget RECIPE``: 70/10/20 by photo group, seed 0) is
exported as a user's would be (calibrated on its training crops), then scored on (a) the rider test split and (b)
every head of the test dataset (helmet-hardhat-yolo: hard hats and bare heads on building sites, all of its
train/valid/test photos, none ever trained on): int8 balanced accuracy (LiteRT's default kernels) with a 95 %
photo-group bootstrap interval. There is no target: it is the best proxy at hand for photos unlike the training
set. Writes benchmarks/results/out_of_domain.json and .md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from data.images import Images
from data.manifest import read_manifest
from data.prepare import Dataset, prepare
from data.preprocessing import PreprocessSpec
from data.sources import SPLITS, load_split
from export.parity import run_parity
from export.to_tflite import export_checkpoint

from .bootstrap import cluster_bootstrap
from .report import REPO, RESULTS, markdown_table, merge_results, relative, write_results

RECIPES = ["configs/recipes/real_slim_mobilenet.yaml", "configs/recipes/imagenet_mobilenet_v2.yaml",
           "configs/recipes/imagenet_mobilenet_v2_035.yaml", "configs/recipes/imagenet_slim_mobilenet.yaml",
           "configs/recipes/imagenet_slim_mobilenet_mcu.yaml"]


def every_head(root: Path, work: Path, spec) -> tuple[Images, list[str]]:
    """Every head crop of the YOLO dataset at ``root`` (all its splits), with each crop's photo group."""
    crops = work / f"heads_{root.name}"
    if not (crops / "prepare_report.json").is_file():
        print(prepare([Dataset("yolo", root, root.name)], crops, force=True).summary())
    manifest = read_manifest(crops / "manifest.csv")
    parts = [load_split(str(crops), split, spec) for split in SPLITS]
    images = Images(pixels=np.concatenate([p.pixels for p in parts]), labels=np.concatenate([p.labels for p in parts]),
                    paths=[q for p in parts for q in p.paths])
    groups = [manifest[p.resolve().relative_to(crops.resolve()).as_posix()]["photo_group"] for p in images.paths]
    return images, groups


def score(parity: dict, groups: list[str]) -> dict:
    per_image = parity["per_image"]
    stats = cluster_bootstrap(per_image["labels"], groups, {"tflite_int8": per_image["predicted"]["tflite_int8"]})
    return {"crops": parity["images"], "class_counts": parity["class_counts"], "photo_groups": stats["groups"],
            "int8_balanced_accuracy": stats["tflite_int8"]["balanced_accuracy"], "ci": stats["tflite_int8"]["ci"],
            "int8_agreement": parity["artifacts"]["tflite_int8"]["agreement_with_pytorch"]}


def evaluate(recipe: str, args: argparse.Namespace) -> dict:
    run = args.work / Path(recipe).stem
    summary = json.loads((run / "recipe.json").read_text())
    export = export_checkpoint(Path(summary["best_checkpoint"]), run / "export", force=True)
    spec = PreprocessSpec.load(export.out)
    riders = Path(summary["data"])
    rider_test = load_split(str(riders), "test", spec)
    manifest = read_manifest(riders / "manifest.csv")
    rider_groups = [manifest[p.resolve().relative_to(riders.resolve()).as_posix()]["photo_group"] for p in rider_test.paths]
    heads, groups = every_head(args.test_root, args.work, spec)
    return {"run": relative(run), "input_size": spec.input_size,
            "riders_test": score(run_parity(export.out, rider_test, spec), rider_groups),
            args.test_root.name: score(run_parity(export.out, heads, spec), groups)}


def markdown(results: dict, test_name: str) -> str:
    def cell(r):
        return f"{r['int8_balanced_accuracy']:.3f} ({r['ci'][0]:.3f}–{r['ci'][1]:.3f})"
    rows = [[f"`{recipe}`", r["input_size"], cell(r["riders_test"]), cell(r[test_name]), r[test_name]["crops"]]
            for recipe, r in results.items() if test_name in r]
    return markdown_table(["recipe (trained on the rider split)", "input px", "riders, test split (int8)",
                           f"{test_name}, every head (int8)", "heads"], rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.out_of_domain", description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=RECIPES)
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "recipe_budget",
                        help="where benchmarks.recipe_budget left each recipe's run")
    parser.add_argument("--test-root", type=Path, default=REPO.parent / "shared" / "data" / "helmet-hardhat-yolo")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    missing = [r for r in args.recipes if not (args.work / Path(r).stem / "recipe.json").is_file()]
    if missing:
        raise SystemExit(f"run python -m benchmarks.recipe_budget first for: {', '.join(missing)}")
    results = merge_results(args.out / "out_of_domain.json", {r: evaluate(r, args) for r in args.recipes})
    write_results(args.out, "out_of_domain", results, markdown(results, args.test_root.name))


if __name__ == "__main__":
    main()
