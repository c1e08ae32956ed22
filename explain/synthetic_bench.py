"""Grad-CAM parity on the model's own synthetic test split (head boxes known: pointing game too).

    python -m explain.synthetic_bench --artifacts DIR [--n 200] [--target predicted] [--out OUT]

Prints the summary; with --out also writes the overlays, contact sheet and explain_parity.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .gradcam import TARGETS, ArtifactsError, explain_synthetic, format_summary, load_runtimes, write_outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m explain.synthetic_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", required=True, type=Path)
    parser.add_argument("--n", type=int, default=200, help="images (default 200)")
    parser.add_argument("--start", type=int, help="first synthetic index (default: the model's test split)")
    parser.add_argument("--target", choices=TARGETS, default="predicted")
    parser.add_argument("--out", type=Path, help="also write overlays, contact sheet and JSON here")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be >= 1")
    try:
        runtimes = load_runtimes(args.artifacts)
    except ArtifactsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    report = explain_synthetic(runtimes, n=args.n, start=args.start, target=args.target,
                               return_pixels=args.out is not None)
    for note in report["notes"]:
        print(note)
    print(format_summary(report["summary"]))
    print(f"{report['summary']['seconds']:.1f} s")
    if args.out:
        written = write_outputs(report, report["pixels"], args.out, runtimes.methods)
        print(f"wrote {written['json']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
