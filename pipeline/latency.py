"""int8 TFLite latency per image on the CPU: median (and p90) over many invocations after a warm-up."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from data.preprocessing import PreprocessSpec
from export.runtimes import TFLiteRunner


def latency_ms(model: str | Path, runs: int = 300, warmup: int = 20, threads: int = 1,
               op_resolver: str = "default") -> dict:
    """Milliseconds per ``invoke`` of ``model`` (its spec read from beside it) on one random image."""
    spec = PreprocessSpec.load(Path(model).parent)
    runner = TFLiteRunner(model, spec, num_threads=threads, op_resolver=op_resolver)
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
            "threads": threads, "kernels": op_resolver, "bytes": Path(model).stat().st_size}
