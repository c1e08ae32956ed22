"""Markdown tables from a pipeline results dict (one entry per model), for README.md."""

from __future__ import annotations

import json
from pathlib import Path

ARTIFACT_ORDER = ("pytorch", "onnx", "saved_model", "tflite_float32", "tflite_int8")


def model_results(arch: str, run_dir, fit_seconds: float, metrics: dict, export, explanation: dict,
                  latency: dict) -> dict:
    """One model's row of a pipeline benchmark: training, export, parity, Edge TPU, latency, Grad-CAM."""
    return {
        "arch": arch,
        "run_dir": str(run_dir),
        "training": {**metrics, "wall_seconds": fit_seconds},
        "export_seconds": export.manifest["total_seconds"],
        "stage_seconds": export.manifest["stage_seconds"],
        "parity": export.parity,
        "edgetpu": {k: export.edgetpu[k] for k in ("compatible", "tpu_share", "num_ops", "param_bytes")},
        "int8_latency": latency,
        "explain": explanation,
    }


def _f(value, fmt=".4f") -> str:
    return "–" if value is None else format(value, fmt)


def _training_seconds(training: dict) -> str:
    """Wall seconds of the run; "synthetic + real" when it started from a run on the synthetic data, and
    the teacher's own training time when it was distilled."""
    pretrain, teacher = training.get("pretrain_seconds"), training.get("teacher")
    seconds = f"{training['wall_seconds']:.0f}" if pretrain is None else f"{pretrain:.0f} + {training['wall_seconds']:.0f}"
    return seconds if not teacher else f"{seconds} (teacher {teacher['name']}: {teacher['seconds']:.0f})"


def merge_results(path: Path, new: dict) -> dict:
    """Results of earlier runs for other models are kept: a benchmark can be re-run one model at a time."""
    old = json.loads(path.read_text()) if path.is_file() else {}
    return {**old, **new}


def write_results(out: Path, name: str, results: dict, table: str) -> None:
    """``out/name.json`` (the results) and ``out/name.md`` (the table the README quotes); prints the table."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=2, default=str, ensure_ascii=False) + "\n")
    (out / f"{name}.md").write_text(table + "\n")
    print(table)


def markdown_table(results: dict, split_name: str) -> str:
    lines = [f"Accuracy on the {split_name} (same images for every artifact):", "",
             "| model | artifact | accuracy | balanced acc. | agreement with PyTorch | mean max abs(Δprob) | size (bytes) |",
             "|---|---|---|---|---|---|---|"]
    for arch, r in results.items():
        for name in ARTIFACT_ORDER:
            a = r["parity"]["artifacts"][name]
            lines.append(f"| {arch} | {name} | {_f(a['accuracy'])} | {_f(a['balanced_accuracy'])} | "
                         f"{_f(a['agreement_with_pytorch'])} | {_f(a['mean_abs_prob_diff'], '.5f')} | {a['bytes']:,} |")
    lines += ["", "| model | params | test images | int8 acc. drop (pp) | Edge TPU mappable | int8 latency, 1 thread "
              "(median ms) | training (s) | train img/s | export + parity (s) |", "|---|---|---|---|---|---|---|---|---|"]
    for arch, r in results.items():
        t = r["training"]
        lines.append(f"| {arch} | {t['parameters']:,} | {r['parity']['images']} | {r['parity']['int8_accuracy_drop_pp']:+.2f} | "
                     f"{'yes' if r['edgetpu']['compatible'] else 'NO'} ({r['edgetpu']['tpu_share']:.0%} of {r['edgetpu']['num_ops']} ops) | "
                     f"{r['int8_latency']['median_ms']:.2f} | {_training_seconds(t)} | {_f(t['train_images_per_second'], '.0f')} | "
                     f"{r['export_seconds']:.1f} |")
    lines += ["", "Grad-CAM parity (PyTorch Grad-CAM vs int8 TFLite CAM, native map resolution):", "",
              "| model | images | map | Pearson median (worst) | top-20 % IoU median (worst) | peak distance median (cells) | "
              "SavedModel Pearson median | int8 same class | pointing game PyTorch / int8 (centre map) | "
              "energy in box int8 (uniform map) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for arch, r in results.items():
        e = r["explain"]
        p = e["parity"]["pytorch_vs_tflite_int8"]
        sm = e["parity"].get("pytorch_vs_saved_model", {}).get("pearson", {}).get("median")
        pg, energy = e["pointing_game"], e.get("energy_in_box", {})
        shape = "×".join(str(d) for d in e["map_shape"].get("tflite_int8", []))
        lines.append(f"| {arch} | {e['images']} | {shape} | {_f(p['pearson']['median'], '.3f')} ({_f(p['pearson']['worst'], '.3f')}) | "
                     f"{_f(p['top20_iou']['median'], '.3f')} ({_f(p['top20_iou']['worst'], '.3f')}) | "
                     f"{_f(p['peak_distance_cells']['median'], '.1f')} | {_f(sm, '.4f')} | "
                     f"{_f(e['predicted_same_class_share'].get('tflite_int8'), '.3f')} | "
                     f"{_f(pg.get('pytorch'), '.2f')} / {_f(pg.get('tflite_int8'), '.2f')} "
                     f"({_f(pg.get('content_free_baseline'), '.2f')}) | "
                     f"{_f(energy.get('tflite_int8'), '.2f')} ({_f(energy.get('content_free_baseline'), '.2f')}) |")
    return "\n".join(lines)
