"""Out of domain: models trained on the rider photos, tested on every head of a dataset they never saw.

    python -m benchmarks.out_of_domain [--recipes configs/recipes/real_slim_mobilenet.yaml ...] [--work runs/real_cv]
        [--fold 0] [--test-root ../shared/data/helmet-hardhat-yolo]

Each recipe's fold-``--fold`` export of its cross-validation (``benchmarks.real_cv``: trained on that fold's rider
training crops, calibrated on them) is scored on (a) the fold's rider test crops and (b) every head of the test
dataset (helmet-hardhat-yolo: hard hats and bare heads on building sites, all of its train/valid/test photos, none
ever trained on): int8 balanced accuracy (LiteRT's default kernels) with a 95 % photo-group bootstrap interval, and
the int8 model's agreement with PyTorch. There is no target: it is the best proxy at hand for photos unlike the
training set. Writes benchmarks/results/out_of_domain.json and .md.
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
from export.runtimes import TFLiteRunner, TorchRunner
from lightning_modules.checkpoint import load_classifier

from .bootstrap import cluster_bootstrap
from .report import REPO, RESULTS, markdown_table, merge_results, relative, write_results

# the shipped slim recipe is cross-validated through the pipeline (real_cv --teacher), the others run their file
CV_ROWS = {"configs/recipes/real_slim_mobilenet.yaml": "slim_mobilenet_distilled_slim_mobilenet"}
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


def score(images: Images, pytorch: np.ndarray, int8: np.ndarray, groups: list[str]) -> dict:
    stats = cluster_bootstrap(images.labels.tolist(), groups, {"tflite_int8": int8.tolist()})
    return {"crops": len(images), "class_counts": images.class_counts(),
            "photo_groups": stats["groups"], "int8_balanced_accuracy": stats["tflite_int8"]["balanced_accuracy"],
            "ci": stats["tflite_int8"]["ci"], "int8_agreement": float((pytorch == int8).mean())}


def evaluate(recipe: str, args: argparse.Namespace) -> dict:
    row = CV_ROWS.get(recipe, Path(recipe).stem)
    fold = json.loads((args.work / row / f"fold{args.fold}" / "fold.json").read_text())
    export = REPO / fold["export_dir"]
    spec = PreprocessSpec.load(export)
    pytorch = TorchRunner(load_classifier(export / "model.pt").model, spec)
    int8 = TFLiteRunner(export / "model_int8.tflite", spec)
    riders = args.work / f"crops_fold{args.fold}"
    rider_test = load_split(str(riders), "test", spec)
    manifest = read_manifest(riders / "manifest.csv")
    rider_groups = [manifest[p.resolve().relative_to(riders.resolve()).as_posix()]["photo_group"] for p in rider_test.paths]
    heads, groups = every_head(args.test_root, args.work, spec)
    scored = {}
    for name, images, image_groups in (("riders_test", rider_test, rider_groups), (args.test_root.name, heads, groups)):
        scored[name] = score(images, pytorch.logits(images.pixels).argmax(1), int8.logits(images.pixels).argmax(1),
                             image_groups)
    return {"row": row, "fold": args.fold, "export": relative(export), "input_size": spec.input_size, **scored}


def markdown(results: dict, test_name: str) -> str:
    def cell(r):
        return f"{r['int8_balanced_accuracy']:.3f} ({r['ci'][0]:.3f}–{r['ci'][1]:.3f})"
    rows = [[f"`{recipe}`", r["input_size"], cell(r["riders_test"]), cell(r[test_name]), r[test_name]["crops"]]
            for recipe, r in results.items() if test_name in r]
    return markdown_table(["recipe (its fold-0 export, trained on riders)", "input px", "riders, fold-0 test crops (int8)",
                           f"{test_name}, every head (int8)", "heads"], rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.out_of_domain", description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=RECIPES)
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "real_cv", help="benchmarks.real_cv's --work")
    parser.add_argument("--fold", type=int, default=0, help="whose export each recipe is scored with")
    parser.add_argument("--test-root", type=Path, default=REPO.parent / "shared" / "data" / "helmet-hardhat-yolo")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    missing = [r for r in args.recipes
               if not (args.work / CV_ROWS.get(r, Path(r).stem) / f"fold{args.fold}" / "fold.json").is_file()]
    if missing:
        raise SystemExit(f"cross-validate first (python -m benchmarks.real_cv --recipe RECIPE): {', '.join(missing)}")
    results = merge_results(args.out / "out_of_domain.json", {r: evaluate(r, args) for r in args.recipes})
    write_results(args.out, "out_of_domain", results, markdown(results, args.test_root.name))


if __name__ == "__main__":
    main()
