"""The full chain on real photos (helmet-kaggle-voc): prepare crops, train both models from scratch on
the CPU, export both, parity on the test split, Grad-CAM parity and pointing game on the test crops.

    python benchmarks/real_data.py [--root ../shared/data/helmet-kaggle-voc] [--models ...] [--work runs/real]

Writes benchmarks/results/real_data.json and real_data.md (the README's real-photo results) and a few
Grad-CAM overlays to docs/. Seeded throughout; about 30-40 minutes on 2 cores.
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
from benchmarks.report import markdown_table, merge_results, model_results  # noqa: E402

DEFAULT_ROOT = REPO.parent / "shared" / "data" / "helmet-kaggle-voc"
DOCS_OVERLAYS = 3


def run_model(arch: str, crops: Path, work: Path) -> dict:
    from explain.gradcam import explain_images, load_runtimes, write_outputs
    from explain.inputs import load_images
    from export.to_tflite import export_checkpoint
    from lightning_modules.fit import main as fit

    started = time.perf_counter()
    run_dir = Path(fit(["--config", str(REPO / "configs" / f"real_{arch}.yaml"), f"--data.source={crops}",
                        "--progress_bar.refresh_rate=0", f"--trainer.logger.init_args.save_dir={work / 'runs'}"]))
    fit_seconds = time.perf_counter() - started
    metrics = json.loads((run_dir / "metrics.json").read_text())
    export = export_checkpoint(Path(metrics["best_checkpoint"]), work / f"export_{arch}", force=True)
    runtimes = load_runtimes(export.out)
    test = load_images([crops / "test"], runtimes.spec)
    report = explain_images(runtimes, test.pixels, boxes=test.boxes, names=[p.name for p in test.paths])
    overlays = write_outputs(report, test.pixels, work / f"explain_{arch}", runtimes.methods)
    result = model_results(arch, run_dir, fit_seconds, metrics, export, report["summary"],
                           latency_ms(export.out / "model_int8.tflite"))
    result["explain_outputs"] = {"contact_sheet": str(overlays["contact_sheet"]), "json": str(overlays["json"])}
    return result


def copy_overlays(work: Path, arch: str, docs: Path) -> list[str]:
    chosen = sorted((work / f"explain_{arch}" / "overlays").glob("*.png"))[:DOCS_OVERLAYS]
    docs.mkdir(parents=True, exist_ok=True)
    copied = []
    for p in chosen:
        target = docs / f"real_{arch}_{p.name}"
        shutil.copyfile(p, target)
        copied.append(str(target.resolve().relative_to(REPO)))
    return copied


def main() -> None:
    from data.prepare import prepare_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--models", nargs="+", default=["slim_mobilenet", "mobilenet_v2"])
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "real")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--docs", type=Path, default=REPO / "docs")
    args = parser.parse_args()
    crops = args.work / "crops"
    prepared = prepare_dataset(args.root, crops, fmt="voc", seed=0, force=True)
    print(prepared.summary())
    results = {}
    for arch in args.models:
        results[arch] = run_model(arch, crops, args.work)
        results[arch]["docs_overlays"] = copy_overlays(args.work, arch, args.docs)
    results["_data"] = {"root": str(args.root), "counts": prepared.counts, "skipped": prepared.skipped}
    args.out.mkdir(parents=True, exist_ok=True)
    results = merge_results(args.out / "real_data.json", results)
    (args.out / "real_data.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    table = markdown_table({k: v for k, v in results.items() if not k.startswith("_")}, "real test split")
    (args.out / "real_data.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
