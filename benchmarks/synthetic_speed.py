"""How fast is the built-in synthetic dataset? Times ``generate(n, size=...)`` (median of a few runs).

    python -m benchmarks.synthetic_speed [--n 2000 --size 128 --repeats 3]

Single process, single thread: run it with ``taskset -c 0`` to pin it to one core. Wall time
suffers when other work shares the core; the CPU seconds printed beside it do not (much).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time


from data.synthetic import generate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    generate(8, seed=args.seed, size=args.size)  # warm-up (imports, noise bank)
    times, cpu = [], []
    for r in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        generate(args.n, seed=args.seed, size=args.size, start=r * args.n)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        print(f"run {r + 1}: {times[-1]:.2f} s wall, {cpu[-1]:.2f} s CPU")
    med = statistics.median(times)
    print(f"generate({args.n}, size={args.size}): median {med:.2f} s over {args.repeats} runs "
          f"({statistics.median(cpu):.2f} s CPU), {args.n / med:.0f} images/s, "
          f"{1000 * med / max(1, args.n):.2f} ms/image")
    return 0


if __name__ == "__main__":
    sys.exit(main())
