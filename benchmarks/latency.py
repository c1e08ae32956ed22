"""int8 TFLite latency per image with one CPU thread: median (and p90) over many invocations.

    python -m benchmarks.latency MODEL.tflite [MODEL.tflite ...] [--runs 300] [--kernels default|builtin_ref]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline.latency import latency_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--kernels", default="default", choices=("default", "builtin", "builtin_ref"),
                        help="LiteRT kernels: default (XNNPACK), builtin, or builtin_ref (reference kernels)")
    args = parser.parse_args()
    for model in args.models:
        print(json.dumps({"model": str(model), **latency_ms(model, args.runs, op_resolver=args.kernels)}))


if __name__ == "__main__":
    main()
