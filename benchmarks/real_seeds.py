"""Seed spread on real photos: one model's real-data config trained at several seeds, each exported to
int8 and scored on the same test crops.

    python benchmarks/real_seeds.py [--models slim_mobilenet] [--init synthetic] [--seeds 0 1 2]
        [--root ../shared/data/helmet-kaggle-voc] [--synthetic-runs runs/synthetic_pipeline/runs]

The real test split has 214 crops (73 no_helmet), so one no_helmet error moves balanced accuracy by
0.7 pp: a single run's figure says little about the recipe. This reports every seed and their mean.
The seed sets the weights' initialisation, the batch order and the augmentation; the split stays
fixed (data.prepare seed 0). Writes benchmarks/results/real_seeds.json and real_seeds.md.
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
from benchmarks.report import merge_results  # noqa: E402


def run_seed(arch: str, seed: int, crops: Path, work: Path, init_checkpoint: Path | None) -> dict:
    from export.to_tflite import export_checkpoint

    run_dir = train_real(arch, crops, work / "runs", init_checkpoint, f"--seed_everything={seed}", f"--data.seed={seed}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    export = export_checkpoint(Path(metrics["best_checkpoint"]), work / f"export_seed{seed}", force=True)
    artifacts = export.parity["artifacts"]
    return {
        "seed": seed,
        "run_dir": str(run_dir),
        "fit_seconds": metrics["fit_seconds"],
        "pytorch_balanced_acc": artifacts["pytorch"]["balanced_accuracy"],
        "int8_balanced_acc": artifacts["tflite_int8"]["balanced_accuracy"],
        "int8_agreement": artifacts["tflite_int8"]["agreement_with_pytorch"],
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
        "runs": runs,
    }


def markdown(results: dict) -> str:
    lines = ["| model | seeds | int8 balanced acc. per seed | int8 mean (min–max) | float mean | lowest int8 agreement |",
             "|---|---|---|---|---|---|"]
    for name, r in results.items():
        per_seed = ", ".join(f"{run['int8_balanced_acc']:.3f}" for run in r["runs"])
        lines.append(f"| {name} | {', '.join(map(str, r['seeds']))} | {per_seed} | "
                     f"{r['int8_balanced_acc_mean']:.3f} ({r['int8_balanced_acc_min']:.3f}–{r['int8_balanced_acc_max']:.3f}) | "
                     f"{r['pytorch_balanced_acc_mean']:.3f} | {100 * r['int8_agreement_min']:.1f} % |")
    return "\n".join(lines)


def main() -> None:
    from data.prepare import prepare_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--models", nargs="+", default=["slim_mobilenet"])
    parser.add_argument("--init", choices=INITS, default="synthetic")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--synthetic-runs", type=Path, default=REPO / "runs" / "synthetic_pipeline" / "runs",
                        help="reuse synthetic runs from here when present (else train them)")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "real_seeds")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    crops = args.work / "crops"
    print(prepare_dataset(args.root, crops, fmt="voc", seed=0, force=True).summary())
    results = {}
    for arch in args.models:
        name = f"{arch}_{args.init}"
        init_checkpoint = (synthetic_checkpoint(arch, args.work, args.synthetic_runs)[0]
                           if args.init == "synthetic" else None)
        runs = [run_seed(arch, seed, crops, args.work / name, init_checkpoint) for seed in args.seeds]
        results[name] = summarize(runs)
    args.out.mkdir(parents=True, exist_ok=True)
    results = merge_results(args.out / "real_seeds.json", results)
    (args.out / "real_seeds.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (args.out / "real_seeds.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
