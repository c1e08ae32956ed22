"""The whole chain on the built-in synthetic data, for both models: the numbers in README.md.

    python benchmarks/synthetic_pipeline.py [--models slim_mobilenet mobilenet_v2] [--out benchmarks/results]

For each model: train with its config (configs/<model>.yaml), export the best checkpoint (ONNX,
SavedModel, TFLite float32 + int8, Edge TPU check, parity on the test split), Grad-CAM parity on
200 synthetic test images, and int8 latency with one thread. Writes synthetic.json and synthetic.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.latency import latency_ms  # noqa: E402
from benchmarks.report import markdown_table, merge_results, model_results, write_results  # noqa: E402


def run_model(arch: str, work: Path, explain_n: int) -> dict:
    from explain.gradcam import explain_synthetic, load_runtimes
    from export.to_tflite import export_checkpoint
    from lightning_modules.fit import main as fit

    started = time.perf_counter()
    run_dir = Path(fit(["--config", str(REPO / "configs" / f"{arch}.yaml"), "--progress_bar.refresh_rate=0",
                        f"--trainer.logger.init_args.save_dir={work / 'runs'}"]))
    fit_seconds = time.perf_counter() - started
    metrics = json.loads((run_dir / "metrics.json").read_text())
    export = export_checkpoint(Path(metrics["best_checkpoint"]), work / f"export_{arch}", force=True)
    explanation = explain_synthetic(load_runtimes(export.out), n=explain_n)["summary"]
    return model_results(arch, run_dir, fit_seconds, metrics, export, explanation,
                         latency_ms(export.out / "model_int8.tflite"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["slim_mobilenet", "mobilenet_v2"])
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "synthetic_pipeline")
    parser.add_argument("--explain-n", type=int, default=200)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    results = merge_results(args.out / "synthetic.json",
                            {arch: run_model(arch, args.work, args.explain_n) for arch in args.models})
    write_results(args.out, "synthetic", results, markdown_table(results, "synthetic test split"))


if __name__ == "__main__":
    main()
