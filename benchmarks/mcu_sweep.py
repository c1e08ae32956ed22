"""How small can the slim model go? Width x input size, cross-validated on the rider folds, against int8
file size, TensorFlow Lite for Microcontrollers arena and latency.

    python -m benchmarks.mcu_sweep [--widths 0.35 0.5 0.75] [--sizes 65 81 97] [--teacher slim_mobilenet] [--work runs/real_cv]

Every setting is a row of benchmarks.real_cv (``slim_mobilenet_w<width>_s<size>``: the default slim recipe
with ``model.arch_kwargs.width_mult`` and ``data.image_size`` changed, started from its own synthetic run of
the same shape; ``--teacher``: distilled from that row's fold exports), paired with the default slim row
(``slim_mobilenet``, width 1 at 96 px) on the same heads. The table lists every setting cross-validated so far,
including a real_cv row that changes the input size and the block table (``--set model.arch_kwargs.blocks=...``).
Odd input sizes keep every stride-2 convolution's padding symmetric, so onnx2tf needs no explicit PAD op
before it (whose output the arena would hold beside the convolution's). Size (and how much of it is
quantization parameters) and arena (TFLM, bisected on this 64-bit host by the export) are read from the row's
first fold export; latency (LiteRT, 1 thread) is real_cv's one timing of that export. Writes
benchmarks/results/mcu_sweep.json and .md and docs/images/mcu_sweep.png (with ``--out``: all three there).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import real_cv
from .cv_pool import ci, pp
from .cv_rows import RowSpec
from .report import (MCU_ARENA_LIMIT, MCU_SIZE_LIMIT, REPO, RESULTS, export_footprint, fits_microcontroller, markdown_table,
                     merge_results, write_results)

REFERENCE = "slim_mobilenet"


def setting_row(width: float, size: int, cv_args: argparse.Namespace, teacher: str | None = None) -> RowSpec:
    overrides = {"model": {"arch_kwargs": {"width_mult": width}}, "data": {"image_size": size}}
    return RowSpec("slim_mobilenet", teacher, label=f"w{width:g}_s{size}", overrides=overrides, margin=cv_args.margin,
                   split_seed=cv_args.split_seed, folds=cv_args.folds, duplicate_distance=cv_args.duplicate_distance)


def shape(row: dict) -> tuple[float, int] | None:
    """(width, input size) of a sweep row of real_cv.json, from its settings: any row that changes the input size,
    whether it changes the width or the network's block table (``--set model.arch_kwargs.blocks=...``); None for
    any other row."""
    overrides = row.get("settings", {}).get("overrides", {}) if isinstance(row, dict) else {}
    size = overrides.get("data", {}).get("image_size")
    return (overrides.get("model", {}).get("arch_kwargs", {}).get("width_mult", 1.0), size) if size is not None else None


def is_setting(row: dict) -> bool:
    return shape(row) is not None and row["settings"].get("model") == "slim_mobilenet"


def footprint(work: Path, row: str, cv_row: dict) -> dict:
    """The setting's export footprint (its first fold's export: it does not depend on the fold) with the latency
    real_cv timed when it pooled the row, and its parameter count."""
    first = min(cv_row["folds"])
    fold = json.loads((work / row / f"fold{first}" / "fold.json").read_text())
    return {**export_footprint(REPO / fold["export_dir"], latency=False),
            "int8_latency": cv_row["export_footprint"]["int8_latency"],
            "parameters": json.loads((REPO / fold["run_dir"] / "metrics.json").read_text())["parameters"]}


def plot(results: dict, path: Path) -> None:
    """int8 balanced accuracy against int8 file size and against TFLM arena, one marker per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), sharey=True)
    for ax, key, limit, what in ((axes[0], "int8_bytes", MCU_SIZE_LIMIT, "int8 .tflite size"),
                                 (axes[1], "tflm_arena_bytes", MCU_ARENA_LIMIT, "TFLM tensor arena (64-bit host)")):
        for i, (name, r) in enumerate(results.items()):
            if r[key] is None:  # an export made before the TFLM check
                continue
            acc = r["tflite_int8"]
            err = [[acc["balanced_accuracy"] - acc["ci"][0]], [acc["ci"][1] - acc["balanced_accuracy"]]]
            ax.errorbar(r[key] / 1000, acc["balanced_accuracy"], yerr=err, fmt="os^vDP*X"[i % 8], capsize=3,
                        label=name.removeprefix("slim_mobilenet_") if name != REFERENCE else "default (w1, 96 px)")
        if REFERENCE in results:
            ax.axhline(results[REFERENCE]["tflite_int8"]["balanced_accuracy"] - 0.01, ls="--", c="grey", lw=1,
                       label="default − 1 pp")
        ax.axvline(limit / 1000, ls=":", c="grey", lw=1, label=f"{limit / 1000:.0f} KB budget")
        ax.set_xscale("log")
        ax.set_xticks([50, 100, 200, 400], ["50", "100", "200", "400"])
        ax.minorticks_off()
        ax.set_xlabel(f"{what} (KB, log scale)")
    axes[0].set_ylabel("int8 balanced accuracy (5-fold CV, 95 % CI)")
    axes[1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(results: dict, compared: dict) -> str:
    rows = []
    for name, r in results.items():
        arena = f"{r['tflm_arena_bytes'] / 1000:.0f} KB" if r["tflm_arena_bytes"] else "–"  # export predates TFLM
        size = f"{r['int8_bytes'] / 1000:.0f} KB ({r['int8_bytes_by_part']['quantization'] / 1000:.0f} KB)"
        rows.append([name, len(r["folds"]), f"{r['parameters'] / 1000:.0f} k", size, arena,
                     r["pad_ops"], f"{r['int8_latency']['median_ms']:.2f}", ci(r["tflite_int8"]), pp(compared.get(name)),
                     f"{100 * r['int8_agreement']:.1f} %", "yes" if fits_microcontroller(r) else "no"])
    return markdown_table(["row", "folds", "parameters", "int8 size (of it, quantization parameters)", "TFLM arena", "PAD ops", "latency, 1 thread (ms)",
                           "int8 balanced acc. (95 % CI)", "− default slim, pp (paired 95 % CI)", "int8 agreement",
                           "≤ 100 KB and ≤ 128 KB arena"], rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mcu_sweep", description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=float, nargs="+", default=[0.35, 0.5, 0.75])
    parser.add_argument("--sizes", type=int, nargs="+", default=[65, 81, 97])
    parser.add_argument("--teacher", help="distil each setting from the same fold's export of this row, e.g. "
                        "slim_mobilenet (the default slim model, at its own input size)")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "real_cv")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    cv_args = real_cv.build_parser().parse_args(["--work", str(args.work), "--models", "slim_mobilenet"])
    cv_args.fold_ids, cv_args.synthetic_runs = list(range(cv_args.folds)), args.work / "synthetic"
    crops = real_cv.prepare_folds(cv_args)
    rows = {}
    for width in args.widths:
        for size in args.sizes:
            spec = setting_row(width, size, cv_args, args.teacher)
            rows[spec.name] = real_cv.run_row(spec, cv_args, crops)
    cv = real_cv.summarise(merge_results(args.out / "real_cv.json", rows), REFERENCE)
    real_cv.write_results(args.out, "real_cv", {n: {k: v for k, v in r.items() if k != "predictions"} for n, r in cv.items()},
                          real_cv.markdown(cv))
    names = [REFERENCE] if REFERENCE in cv else []  # the default row, when it has been run
    names += sorted((n for n in cv if is_setting(cv[n])), key=lambda n: (shape(cv[n]), n))  # this run's and earlier ones
    results = {n: {**{k: v for k, v in cv[n].items() if k != "predictions"}, **footprint(args.work, n, cv[n])} for n in names}
    compared = cv["_comparison"]["rows"]
    plot(results, REPO / "docs" / "images" / "mcu_sweep.png" if args.out == RESULTS else args.out / "mcu_sweep.png")
    write_results(args.out, "mcu_sweep", results, markdown(results, compared))


if __name__ == "__main__":
    main()
