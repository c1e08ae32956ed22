"""Training throughput of both models: images/s for forward + backward + AdamW step on the CPU.

    python -m benchmarks.train_throughput [--size 128] [--batch 32] [--steps 15] [--out FILE]

Reports the median step time over ``--steps`` steps after 3 warm-up steps, for channels_last
(what training uses) and for plain NCHW, so the ratio between the two is visible.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from lightning_modules.models import build_model, count_parameters

ARCHS = ("slim_mobilenet", "mobilenet_v2")


def median_step_seconds(arch: str, size: int, batch: int, steps: int, channels_last: bool) -> float:
    torch.manual_seed(0)
    model = build_model(arch).train()
    x, y = torch.rand(batch, 3, size, size), torch.randint(0, 2, (batch,))
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    times = []
    for i in range(steps + 3):
        start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if i >= 3:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "train_throughput.json")
    args = parser.parse_args()
    results = {"size": args.size, "batch": args.batch, "threads": torch.get_num_threads(),
               "torch": torch.__version__, "machine": platform.machine(), "models": {}}
    for arch in ARCHS:
        row = {"parameters": count_parameters(build_model(arch))}
        for layout, channels_last in (("channels_last", True), ("nchw", False)):
            seconds = median_step_seconds(arch, args.size, args.batch, args.steps, channels_last)
            row[f"{layout}_images_per_second"] = args.batch / seconds
        row["channels_last_speedup"] = row["channels_last_images_per_second"] / row["nchw_images_per_second"]
        results["models"][arch] = row
        print(f"{arch:<16} {row['parameters']:>10,} params  {row['channels_last_images_per_second']:7.1f} img/s "
              f"(channels_last; NCHW {row['nchw_images_per_second']:.1f}, x{row['channels_last_speedup']:.2f})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
