"""The full chain on real photos (helmet-kaggle-voc): prepare crops, train both models on the CPU,
export both, parity on the test split, Grad-CAM parity and pointing game on the test crops.

    python benchmarks/real_data.py [--root ../shared/data/helmet-kaggle-voc] [--models ...]
        [--init scratch synthetic] [--synthetic-runs runs/synthetic_pipeline/runs] [--work runs/real]
        [--teacher mobilenet_v2_synthetic] [--rescore-explanations]

Each model is trained in up to two ways: from scratch ("scratch"), and starting from the weights of
its run on the built-in synthetic data ("synthetic": no external data or weights). The synthetic run is
taken from --synthetic-runs (as left by benchmarks/synthetic_pipeline.py) when present, else trained
here with configs/<model>.yaml; its time counts towards the model's training budget.
``--teacher NAME`` distils the models trained here from an earlier row of the results (its exported
PyTorch checkpoint, e.g. mobilenet_v2_synthetic); their rows are named ``<model>_<init>_distilled``
(``_self_distilled`` when the teacher is the same model and init: a born-again network) and record the
teacher's own training time. ``--rescore-explanations`` re-runs only the Grad-CAM scoring of
the rows already in the results, on their exported models in --work (no training, no export), so that
a new explanation metric reaches old rows.
Writes benchmarks/results/real_data.json and real_data.md (the README's real-photo results) and a few
Grad-CAM overlays to docs/. Seeded throughout.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.latency import latency_ms  # noqa: E402
from benchmarks.report import markdown_table, merge_results, model_results, write_results  # noqa: E402
from data.duplicates import DEFAULT_MAX_DISTANCE  # noqa: E402
from data.prepare.cli import parse_duplicate_distance  # noqa: E402

DEFAULT_ROOT = REPO.parent / "shared" / "data" / "helmet-kaggle-voc"
DOCS_OVERLAYS = 3
INITS = ("scratch", "synthetic")


def synthetic_checkpoint(arch: str, work: Path, synthetic_runs: Path | None) -> tuple[Path, float]:
    """The model's best checkpoint on the synthetic data and its training seconds (from metrics.json)."""
    from lightning_modules.fit import main as fit

    previous = sorted((synthetic_runs / arch).glob("version_*/metrics.json")) if synthetic_runs else []
    if previous:
        metrics_path = previous[-1]
    else:
        run_dir = Path(fit(["--config", str(REPO / "configs" / f"{arch}.yaml"), "--progress_bar.refresh_rate=0",
                            f"--trainer.logger.init_args.save_dir={work / 'synthetic'}"]))
        metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    return Path(metrics["best_checkpoint"]), metrics["fit_seconds"]


def train_real(arch: str, crops: Path, save_dir: Path, init_checkpoint: Path | None, *overrides: str) -> Path:
    """Fit configs/real_<arch>.yaml on ``crops`` (optionally from ``init_checkpoint``); returns the run directory."""
    from lightning_modules.fit import main as fit

    init = [f"--model.init_checkpoint={init_checkpoint}"] if init_checkpoint else []
    return Path(fit(["--config", str(REPO / "configs" / f"real_{arch}.yaml"), f"--data.source={crops}",
                     "--progress_bar.refresh_rate=0", f"--trainer.logger.init_args.save_dir={save_dir}",
                     *init, *overrides]))


def run_model(arch: str, name: str, crops: Path, work: Path, init_checkpoint: Path | None, *overrides: str) -> dict:
    from explain.gradcam import explain_images, load_runtimes, write_outputs
    from data.images import expand_paths, load_images
    from export.to_tflite import export_checkpoint

    started = time.perf_counter()
    run_dir = train_real(arch, crops, work / "runs" / name, init_checkpoint, *overrides)
    fit_seconds = time.perf_counter() - started
    metrics = json.loads((run_dir / "metrics.json").read_text())
    export = export_checkpoint(Path(metrics["best_checkpoint"]), work / f"export_{name}", force=True)
    runtimes = load_runtimes(export.out)
    test = load_images(expand_paths([crops / "test"]), runtimes.spec)
    report = explain_images(runtimes, test.pixels, boxes=test.boxes, names=[p.name for p in test.paths])
    overlays = write_outputs(report, test.pixels, work / f"explain_{name}", runtimes.methods)
    result = model_results(arch, run_dir, fit_seconds, metrics, export, report["summary"],
                           latency_ms(export.out / "model_int8.tflite"))
    result["explain_outputs"] = {"contact_sheet": str(overlays["contact_sheet"]), "json": str(overlays["json"])}
    return result


def rescore_explanations(results: dict, work: Path) -> dict:
    """Grad-CAM parity, pointing game and energy in box again for every row with an export in ``work``."""
    from explain.gradcam import explain_images, load_runtimes
    from data.images import expand_paths, load_images

    rescored = {}
    for name, row in results.items():
        export = work / f"export_{name}"
        if name.startswith("_") or not (export / "model.pt").is_file():
            continue
        runtimes = load_runtimes(export)
        test = load_images(expand_paths([work / "crops" / "test"]), runtimes.spec)
        report = explain_images(runtimes, test.pixels, boxes=test.boxes, names=[p.name for p in test.paths])
        rescored[name] = {**row, "explain": report["summary"]}
        print(f"{name}: Grad-CAM re-scored on {len(test.pixels)} test crops")
    return rescored


def row_name(arch: str, init: str, teacher: str | None) -> str:
    """``<model>_<init>``, then ``_self_distilled`` if its teacher is the same model and init, else ``_distilled``."""
    name = f"{arch}_{init}"
    if not teacher:
        return name
    return name + ("_self_distilled" if teacher == name else "_distilled")


def teacher_row(results_path: Path, name: str, work: Path) -> dict:
    """The exported checkpoint and training seconds of an earlier row of real_data.json."""
    rows = json.loads(results_path.read_text()) if results_path.is_file() else {}
    checkpoint = work / f"export_{name}" / "model.pt"
    if name not in rows or not checkpoint.is_file():
        raise SystemExit(f"--teacher {name}: run it first (benchmarks/real_data.py --models ... --init ...); "
                         f"need its row in {results_path} and {checkpoint}")
    training = rows[name]["training"]
    return {"name": name, "checkpoint": str(checkpoint),
            "seconds": (training.get("pretrain_seconds") or 0.0) + training["wall_seconds"]}


def copy_overlays(work: Path, name: str, docs: Path) -> list[str]:
    chosen = sorted((work / f"explain_{name}" / "overlays").glob("*.png"))[:DOCS_OVERLAYS]
    docs.mkdir(parents=True, exist_ok=True)
    copied = []
    for p in chosen:
        target = docs / f"real_{name}_{p.name}"
        shutil.copyfile(p, target)
        target = target.resolve()
        copied.append(str(target.relative_to(REPO) if target.is_relative_to(REPO) else target))
    return copied


def main() -> None:
    from data.prepare import prepare_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--duplicate-distance", type=parse_duplicate_distance, default=DEFAULT_MAX_DISTANCE,
                        help="data.prepare's near-duplicate grouping; 'off' is the photo split of the earlier "
                             "results (it leaks copies of test photos into train)")
    parser.add_argument("--models", nargs="+", default=["slim_mobilenet", "mobilenet_v2"])
    parser.add_argument("--init", nargs="+", choices=INITS, default=list(INITS))
    parser.add_argument("--synthetic-runs", type=Path, default=REPO / "runs" / "synthetic_pipeline" / "runs",
                        help="reuse synthetic runs from here when present (else train them)")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "real")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--docs", type=Path, default=REPO / "docs")
    parser.add_argument("--teacher", help="distil from this earlier result row, e.g. mobilenet_v2_synthetic")
    parser.add_argument("--rescore-explanations", action="store_true",
                        help="only re-score Grad-CAM of the rows already in the results (no training)")
    args = parser.parse_args()
    if args.rescore_explanations:
        results = merge_results(args.out / "real_data.json", {})
        results = {**results, **rescore_explanations(results, args.work)}
        write_results(args.out, "real_data", results,
                      markdown_table({k: v for k, v in results.items() if not k.startswith("_")}, "real test split"))
        return
    distill, teacher = [], None
    if args.teacher:
        teacher = teacher_row(args.out / "real_data.json", args.teacher, args.work)
        distill = [f"--model.teacher_checkpoint={teacher['checkpoint']}"]
    crops = args.work / "crops"
    prepared = prepare_dataset(args.root, crops, fmt="voc", seed=0, force=True,
                               duplicate_distance=args.duplicate_distance)
    print(prepared.summary())
    results = {}
    for arch in args.models:
        for init in args.init:
            name = row_name(arch, init, args.teacher)
            pretrained, pretrain_seconds = (synthetic_checkpoint(arch, args.work, args.synthetic_runs)
                                            if init == "synthetic" else (None, None))
            results[name] = run_model(arch, name, crops, args.work, pretrained, *distill)
            results[name]["training"]["pretrain_seconds"] = pretrain_seconds
            results[name]["training"]["teacher"] = teacher
            results[name]["docs_overlays"] = copy_overlays(args.work, name, args.docs)
    results["_data"] = {"root": str(args.root), "counts": prepared.counts, "skipped": prepared.skipped}
    results = merge_results(args.out / "real_data.json", results)
    write_results(args.out, "real_data", results,
                  markdown_table({k: v for k, v in results.items() if not k.startswith("_")}, "real test split"))


if __name__ == "__main__":
    main()
