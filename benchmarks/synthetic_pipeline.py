"""The whole chain on the built-in synthetic data, for both models: the synthetic tables of docs/results.md.

    python -m benchmarks.synthetic_pipeline [--models slim_mobilenet mobilenet_v2] [--work runs/synthetic_pipeline]

For each model: train with configs/<model>.yaml, export the best checkpoint (every format, then parity on
the test split, the TFLM check and the Edge TPU check), Grad-CAM parity on 200 synthetic test images,
and int8 latency with one thread (``pipeline.run_pipeline``). Writes synthetic.json and synthetic.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline import Training, run_pipeline

from .report import REPO, RESULTS, chain_table, gradcam_table, merge_results, parity_table, pipeline_row, write_results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.synthetic_pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["slim_mobilenet", "mobilenet_v2"])
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "synthetic_pipeline")
    parser.add_argument("--explain-n", type=int, default=200)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    new = {}
    for arch in args.models:
        run = run_pipeline(Training(configs=[REPO / "configs" / f"{arch}.yaml"]), args.work / arch,
                           explain="synthetic", explain_n=args.explain_n)
        new[arch] = pipeline_row(arch, run)
    results = merge_results(args.out / "synthetic.json", new)
    write_results(args.out, "synthetic", results, "\n\n".join(
        ["Accuracy on the synthetic test split (same images for every runtime):", parity_table(results),
         chain_table(results), "Grad-CAM parity (PyTorch Grad-CAM vs int8 TFLite CAM, native map resolution):",
         gradcam_table(results)]))


if __name__ == "__main__":
    main()
