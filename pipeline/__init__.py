"""The whole chain as one function: train -> export (every format, then parity, TFLM and Edge TPU checks)
-> explain -> int8 latency. Every benchmark and the end-to-end tests go through ``run_pipeline``.

    from pipeline import Training, run_pipeline
    run = run_pipeline(Training(configs=["configs/slim_mobilenet.yaml"]), work="runs/demo", explain="synthetic")
    run.export.parity["artifacts"]["tflite_int8"]["balanced_accuracy"], run.explanation["parity"], ...

Training is either one fit (YAML configs merged in order, plus nested overrides) or a recipe of stages
(``lightning_modules.recipe``); nothing is driven through command-line strings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .latency import latency_ms

__all__ = ["PipelineRun", "Training", "latency_ms", "run_pipeline", "train"]


@dataclass(frozen=True)
class Training:
    """What to train: ``configs`` (+ ``overrides``) for one fit, or a ``recipe`` file of stages. ``data`` is the
    prepared real dataset (None: the configs' own source, e.g. the built-in synthetic data)."""

    configs: Sequence[str | Path] = ()
    overrides: dict = field(default_factory=dict)
    recipe: str | Path | None = None
    data: str | Path | None = None
    shared_stages: str | Path | None = None   # recipe: where data-independent stages are kept and reused
    weights: str | Path | None = None         # recipe: pretrained features for its ``weights: true`` stages


@dataclass
class PipelineRun:
    run_dir: Path
    best_checkpoint: Path
    training: dict                  # the run's metrics.json (or the recipe summary), plus wall seconds
    export: object                  # export.to_tflite.ExportResult
    explanation: dict | None = None  # explain.parity summary
    latency: dict | None = None      # int8 latency, 1 thread


def train(training: Training, work: Path) -> tuple[Path, Path, dict]:
    """Run the training; returns (run directory, best checkpoint, metrics or recipe summary)."""
    from lightning_modules.fit import deep_merge, fit, load_config
    from lightning_modules.recipe import run_recipe

    started = time.perf_counter()
    if training.recipe is not None:
        summary = run_recipe(training.recipe, work / "run", training.data, shared=training.shared_stages,
                             weights=training.weights)
        run_dir, best, metrics = work / "run", Path(summary["best_checkpoint"]), summary
    else:
        where = {"trainer": {"logger": {"init_args": {"save_dir": str(work / "runs")}}}}  # unless overridden
        data = {"data": {"source": str(training.data)}} if training.data is not None else {}
        result = fit(load_config(*training.configs, overrides=deep_merge(deep_merge(where, training.overrides), data)))
        run_dir, best, metrics = result.run_dir, Path(result.metrics["best_checkpoint"]), result.metrics
    return run_dir, best, {**metrics, "wall_seconds": time.perf_counter() - started}


def run_pipeline(training: Training, work: str | Path, explain: str | Path | None = None, explain_n: int = 200,
                 latency: bool = True, overlays: bool = False, **export_options) -> PipelineRun:
    """Train, export to ``work/export`` (replacing it), then explain and time the int8 model.

    ``explain``: "synthetic" (``explain_n`` images of the model's synthetic test split, with head boxes),
    a folder of crops (e.g. a prepared set's test split: head boxes from its manifest), or None.
    ``overlays`` also writes the overlay images and contact sheet to ``work/explain``.
    ``export_options`` go to ``export_checkpoint`` (calib_samples, io_type, ...)."""
    from export.to_tflite import export_checkpoint

    work = Path(work)
    run_dir, best, training_report = train(training, work)
    export = export_checkpoint(best, work / "export", force=True, **export_options)
    explanation = explain_export(export.out, explain, explain_n, work / "explain" if overlays else None)
    return PipelineRun(run_dir, best, training_report, export, explanation,
                       latency_ms(export.out / "model_int8.tflite") if latency else None)


def explain_export(artifacts: Path, images: str | Path | None, n: int = 200, out: Path | None = None) -> dict | None:
    """Grad-CAM parity summary of an export on synthetic images or a folder of crops (None: skip)."""
    from data.images import expand_paths, load_images
    from explain.export_explainers import load_explainers
    from explain.outputs import write_outputs
    from explain.parity import explain_images
    from explain.synthetic_split import explain_synthetic

    if images is None:
        return None
    explainers = load_explainers(artifacts)
    if images == "synthetic":
        report, loaded = explain_synthetic(explainers, n=n)
    else:
        loaded = load_images(expand_paths([images]), explainers.spec)
        report = explain_images(explainers, loaded.pixels, boxes=loaded.boxes, names=[p.name for p in loaded.paths])
    if out is not None:
        report["summary"]["outputs"] = {k: str(v) for k, v in write_outputs(report, loaded.pixels, out).items()
                                        if k != "overlays"}
    return report["summary"]
