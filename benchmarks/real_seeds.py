"""Seed spread on real photos: one model's real-data config trained at several seeds, each exported to
int8 and scored on the same test crops.

    python benchmarks/real_seeds.py [--models slim_mobilenet] [--init synthetic] [--seeds 0 1 2]
        [--root ../shared/data/helmet-kaggle-voc] [--synthetic-runs runs/synthetic_pipeline/runs]
        [--label NAME -- FIT OVERRIDES...]

Arguments after ``--`` are passed to ``lightning_modules.fit`` on top of the real config, to measure a
variant of the recipe (e.g. ``--label mix -- --model.mixup_alpha=0.2 --model.cutmix_alpha=1.0``); the
variant's results are keyed ``<model>_<init>_<label>``.

The real test split has 214 crops (73 no_helmet), so one no_helmet error moves balanced accuracy by
0.7 pp: a single run's figure says little about the recipe. This reports every seed and their mean.
The seed sets the weights' initialisation, the batch order and the augmentation; the split stays
fixed (data.prepare seed 0). Each run is exported to int8 and its int8 Grad-CAM is scored with the
pointing game on the test crops. Writes benchmarks/results/real_seeds.json and real_seeds.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.real_data import DEFAULT_ROOT, INITS, synthetic_checkpoint, train_real  # noqa: E402
from benchmarks.report import merge_results, write_results  # noqa: E402
from data.duplicates import DEFAULT_MAX_DISTANCE  # noqa: E402
from data.prepare.cli import parse_duplicate_distance  # noqa: E402


def run_seed(arch: str, seed: int, crops: Path, work: Path, init_checkpoint: Path | None,
             fit_overrides: list[str]) -> dict:
    from explain.gradcam import explain_images, load_runtimes
    from data.images import expand_paths, load_images
    from export.to_tflite import export_checkpoint

    run_dir = train_real(arch, crops, work / "runs", init_checkpoint, f"--seed_everything={seed}", f"--data.seed={seed}",
                         *fit_overrides)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    export = export_checkpoint(Path(metrics["best_checkpoint"]), work / f"export_seed{seed}", force=True)
    artifacts = export.parity["artifacts"]
    runtimes = load_runtimes(export.out, saved_model=False)
    test = load_images(expand_paths([crops / "test"]), runtimes.spec)
    pointing = explain_images(runtimes, test.pixels, boxes=test.boxes)["summary"]["pointing_game"]
    return {
        "seed": seed,
        "run_dir": str(run_dir),
        "fit_seconds": metrics["fit_seconds"],
        "pytorch_balanced_acc": artifacts["pytorch"]["balanced_accuracy"],
        "int8_balanced_acc": artifacts["tflite_int8"]["balanced_accuracy"],
        "int8_agreement": artifacts["tflite_int8"]["agreement_with_pytorch"],
        "int8_pointing_game": pointing["tflite_int8"],
    }


def summarize(runs: list[dict]) -> dict:
    int8 = [r["int8_balanced_acc"] for r in runs]
    return {
        "seeds": [r["seed"] for r in runs],
        "int8_balanced_acc_mean": statistics.fmean(int8),
        "int8_balanced_acc_min": min(int8),
        "int8_balanced_acc_max": max(int8),
        "pytorch_balanced_acc_mean": statistics.fmean(r["pytorch_balanced_acc"] for r in runs),
        "int8_agreement_min": min(r["int8_agreement"] for r in runs),
        "int8_pointing_game_mean": statistics.fmean(r["int8_pointing_game"] for r in runs),
        "int8_pointing_game_min": min(r["int8_pointing_game"] for r in runs),
        "runs": runs,
    }


def markdown(results: dict) -> str:
    lines = ["| model | seeds | int8 balanced acc. per seed | int8 mean (min–max) | float mean | lowest int8 agreement "
             "| int8 pointing game, mean (min) |",
             "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        per_seed = ", ".join(f"{run['int8_balanced_acc']:.3f}" for run in r["runs"])
        lines.append(f"| {name} | {', '.join(map(str, r['seeds']))} | {per_seed} | "
                     f"{r['int8_balanced_acc_mean']:.3f} ({r['int8_balanced_acc_min']:.3f}–{r['int8_balanced_acc_max']:.3f}) | "
                     f"{r['pytorch_balanced_acc_mean']:.3f} | {100 * r['int8_agreement_min']:.1f} % | "
                     + (f"{r['int8_pointing_game_mean']:.2f} ({r['int8_pointing_game_min']:.2f}) |"
                        if "int8_pointing_game_mean" in r else "not measured |"))
    return "\n".join(lines)


def main() -> None:
    from data.prepare import prepare_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--duplicate-distance", type=parse_duplicate_distance, default=DEFAULT_MAX_DISTANCE,
                        help="data.prepare's near-duplicate grouping; 'off' is the photo split of the earlier "
                             "results (it leaks copies of test photos into train)")
    parser.add_argument("--models", nargs="+", default=["slim_mobilenet"])
    parser.add_argument("--init", choices=INITS, default="synthetic")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--synthetic-runs", type=Path, default=REPO / "runs" / "synthetic_pipeline" / "runs",
                        help="reuse synthetic runs from here when present (else train them)")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "real_seeds")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--label", default="", help="names a variant given by fit overrides after --")
    parser.add_argument("fit_overrides", nargs="*", help="after --: passed to lightning_modules.fit")
    args = parser.parse_args()
    if args.fit_overrides and not args.label:
        parser.error("fit overrides need a --label to name the variant")
    crops = args.work / "crops"
    print(prepare_dataset(args.root, crops, fmt="voc", seed=0, force=True,
                          duplicate_distance=args.duplicate_distance).summary())
    results = {}
    for arch in args.models:
        name = f"{arch}_{args.init}" + (f"_{args.label}" if args.label else "")
        init_checkpoint = (synthetic_checkpoint(arch, args.work, args.synthetic_runs)[0]
                           if args.init == "synthetic" else None)
        runs = [run_seed(arch, seed, crops, args.work / name, init_checkpoint, args.fit_overrides)
                for seed in args.seeds]
        results[name] = {**summarize(runs), "fit_overrides": args.fit_overrides}
    results = merge_results(args.out / "real_seeds.json", results)
    write_results(args.out, "real_seeds", results, markdown(results))


if __name__ == "__main__":
    main()
