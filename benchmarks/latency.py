"""int8 TFLite latency per image with one CPU thread: median (and p90) over many invocations.

    python benchmarks/latency.py MODEL.tflite [MODEL.tflite ...] [--runs 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from data.preprocessing import PreprocessSpec  # noqa: E402
from export.runtimes import TFLiteRunner  # noqa: E402


def latency_ms(model: Path, runs: int = 300, warmup: int = 20, threads: int = 1) -> dict:
    spec = PreprocessSpec.load(Path(model).parent)
    runner = TFLiteRunner(model, spec, num_threads=threads)
    pixels = np.random.default_rng(0).integers(0, 256, (1, spec.input_size, spec.input_size, 3), np.uint8)
    x = runner.quantize_input(pixels)[0]
    times = []
    for i in range(warmup + runs):
        start = time.perf_counter()
        runner.invoke(x)
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"median_ms": statistics.median(times), "p90_ms": times[int(0.9 * len(times))], "runs": runs,
            "threads": threads, "bytes": Path(model).stat().st_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    for model in args.models:
        print(json.dumps({"model": str(model), **latency_ms(model, args.runs)}))


if __name__ == "__main__":
    main()
