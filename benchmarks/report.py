"""Writing benchmark results: JSON for the record, Markdown tables for the docs (one small table helper)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
ARTIFACT_ORDER = ("pytorch", "onnx", "saved_model", "tflite_float32", "tflite_int8", "tflite_int8_ref", "tflm")
MCU_SIZE_LIMIT, MCU_ARENA_LIMIT = 100_000, 128_000  # bytes: the microcontroller-sized target (issue 19)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub Markdown table; cells are written with str()."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def merge_results(path: Path, new: dict) -> dict:
    """Results of earlier runs for other rows are kept: a benchmark can be re-run one row at a time."""
    old = json.loads(path.read_text()) if path.is_file() else {}
    return {**old, **new}


def write_results(out: Path, name: str, results: dict, table: str) -> None:
    """``out/name.json`` (the results) and ``out/name.md`` (the tables the docs quote), each written
    atomically; prints the table."""
    out.mkdir(parents=True, exist_ok=True)
    for suffix, text in ((".json", json.dumps(results, indent=2, default=str, ensure_ascii=False) + "\n"),
                         (".md", table + "\n")):
        tmp = out / f".{name}{suffix}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out / f"{name}{suffix}")
    print(table)


def export_footprint(export: Path, latency: bool = True) -> dict:
    """What an export costs on a device: int8 bytes, op count, explicit PAD ops, Edge TPU mapping, TFLM arena
    (None for an export made before the TFLM check) and, with ``latency``, the int8 model's 1-thread LiteRT
    latency measured now (run on an otherwise idle machine)."""
    from pipeline.latency import latency_ms

    edgetpu = json.loads((export / "edgetpu.json").read_text())
    ops = [op["op"] for op in edgetpu["ops"]]
    tflm = json.loads((export / "manifest.json").read_text()).get("tflm") or {}
    return {"int8_bytes": (export / "model_int8.tflite").stat().st_size,
            "int8_bytes_by_part": int8_bytes_by_part(export / "model_int8.tflite"), "ops": len(ops),
            "pad_ops": ops.count("PAD"), "edgetpu_mapped_ops": edgetpu["tpu_ops"],
            "edgetpu_compatible": edgetpu["compatible"], "tflm_arena_bytes": tflm.get("tensor_arena_bytes"),
            **({"int8_latency": latency_ms(export / "model_int8.tflite")} if latency else {})}


def int8_bytes_by_part(model: Path) -> dict:
    """Where an int8 file's bytes go: int8 weights, int32 biases (and any other wider constant, such as a
    shape), quantization parameters (a float32 scale and an int64 zero point per tensor, or per output channel
    of a weight and of its bias) and the rest (graph, tensor names, metadata)."""
    from export.edgetpu.flatbuffer import read_model

    _, parsed = read_model(model)
    const = [t.values for t in parsed.tensors if t.values is not None]
    parts = {"weights": sum(v.nbytes for v in const if v.dtype.itemsize == 1),
             "biases": sum(v.nbytes for v in const if v.dtype.itemsize > 1),
             "quantization": sum(4 * len(t.scale) + 8 * len(t.zero_point) for t in parsed.tensors)}
    return {**parts, "other": model.stat().st_size - sum(parts.values())}


def fits_microcontroller(footprint: dict) -> bool:
    arena = footprint["tflm_arena_bytes"]
    return footprint["int8_bytes"] <= MCU_SIZE_LIMIT and arena is not None and arena <= MCU_ARENA_LIMIT


def relative(path: str | Path) -> str:
    """A path relative to the repository when it lies inside it (results files stay portable)."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _f(value, fmt=".4f") -> str:
    return "–" if value is None else format(value, fmt)


def pipeline_row(name: str, run) -> dict:
    """One model's row of a pipeline benchmark: training, export, parity, TFLM, Edge TPU, latency, Grad-CAM."""
    export = run.export
    return {
        "model": name,
        "run_dir": relative(run.run_dir),
        "training": run.training,
        "export_seconds": export.manifest.get("total_seconds"),
        "parity": {k: v for k, v in export.parity.items() if k != "per_image"},
        "tflm": export.manifest.get("tflm"),
        "edgetpu": {k: export.edgetpu[k] for k in ("compatible", "tpu_share", "num_ops", "param_bytes")},
        "int8_latency": run.latency,
        "explain": run.explanation,
    }


def parity_table(results: dict) -> str:
    rows = []
    for name, r in results.items():
        for artifact in ARTIFACT_ORDER:
            a = r["parity"]["artifacts"].get(artifact)
            if a:
                rows.append([name, artifact, _f(a["accuracy"]), _f(a["balanced_accuracy"]), _f(a["agreement_with_pytorch"]),
                             _f(a["mean_abs_prob_diff"], ".5f"), f"{a['bytes']:,}" if a.get("bytes") else "–"])
    return markdown_table(["model", "artifact", "accuracy", "balanced acc.", "agreement with PyTorch",
                           "mean max abs(Δprob)", "size (bytes)"], rows)


def chain_table(results: dict) -> str:
    rows = []
    for name, r in results.items():
        t, e, tflm = r["training"], r["edgetpu"], r.get("tflm") or {}
        rows.append([name, f"{t['parameters']:,}", r["parity"]["images"], f"{r['parity']['int8_accuracy_drop_pp']:+.2f}",
                     f"{'yes' if e['compatible'] else 'NO'} ({e['tpu_share']:.0%} of {e['num_ops']} ops)",
                     _f(r["int8_latency"]["median_ms"], ".2f"),
                     f"{tflm['tensor_arena_bytes'] / 1000:.0f} KB" if tflm.get("tensor_arena_bytes") else "–",
                     _f(t.get("wall_seconds"), ".0f"), _f(r.get("export_seconds"), ".1f")])
    return markdown_table(["model", "params", "test images", "int8 acc. drop (pp)", "Edge TPU mappable",
                           "int8 latency, 1 thread, XNNPACK (median ms)", "TFLM arena", "training (s)",
                           "export + checks (s)"], rows)


def gradcam_table(results: dict) -> str:
    rows = []
    for name, r in results.items():
        e = r["explain"]
        p = e["parity"]["pytorch_vs_tflite_int8"]
        pg, energy = e["pointing_game"], e.get("energy_in_box", {})
        shape = "×".join(str(d) for d in e["map_shape"].get("tflite_int8", []))
        rows.append([name, e["images"], shape, f"{_f(p['pearson']['median'], '.3f')} ({_f(p['pearson']['worst'], '.3f')})",
                     f"{_f(p['top20_iou']['median'], '.3f')} ({_f(p['top20_iou']['worst'], '.3f')})",
                     _f(e["predicted_same_class_share"].get("tflite_int8"), ".3f"),
                     f"{_f(pg.get('pytorch'), '.2f')} / {_f(pg.get('tflite_int8'), '.2f')} ({_f(pg.get('content_free_baseline'), '.2f')})",
                     f"{_f(energy.get('tflite_int8'), '.2f')} ({_f(energy.get('content_free_baseline'), '.2f')})"])
    return markdown_table(["model", "images", "map", "Pearson median (worst)", "top-20 % IoU median (worst)",
                           "int8 same class", "pointing game PyTorch / int8 (centre map)",
                           "energy in box int8 (uniform map)"], rows)
