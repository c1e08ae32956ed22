"""manifest.json: what was exported from what, with which settings and tools, what the checks found, and every
file's size and hash."""

from __future__ import annotations

import platform
from importlib import metadata

from .artifacts import STAGE_SECONDS, path_bytes, sha256
from .checks import Checked
from .inputs import ExportInputs, ExportSettings
from .layout import INT8_ROWS, ExportDir
from .onnx_export import OPSET

PINNED_TOOLS = ("torch", "torchvision", "onnx", "onnxruntime", "onnx2tf", "tensorflow", "ai-edge-litert",
                "tflite-micro", "numpy")


def _checks(checked: Checked) -> dict:
    rows, tflm = checked.parity["artifacts"], checked.parity["tflm"]
    reference = tflm.get("vs_litert_reference")
    return {
        **checked.conversion,
        "edgetpu_compatible": checked.edgetpu["compatible"],
        "tflm_unsupported_ops": tflm["unsupported_ops"],
        "tflm_bit_exact_with_litert_reference": reference["bit_exact"] if reference else None,
        "int8_agreement_with_pytorch": {row: rows[row]["agreement_with_pytorch"] for row in INT8_ROWS if row in rows},
        "failed": checked.failures,
        "passed": not checked.failures,
    }


def _edgetpu_summary(edgetpu: dict) -> dict:
    return {key: edgetpu[key] for key in ("compatible", "tpu_ops", "num_ops", "first_unsupported_op", "issues")}


def build_manifest(inputs: ExportInputs, settings: ExportSettings, export: ExportDir, checked: Checked) -> dict:
    """The manifest of the files now in ``export`` (call it last: it hashes them); ``total_seconds`` is the
    caller's to add."""
    classifier = inputs.classifier
    return {
        "checkpoint": str(inputs.checkpoint.resolve()),
        "checkpoint_sha256": sha256(inputs.checkpoint),
        "arch": classifier.arch,
        "arch_kwargs": classifier.arch_kwargs,
        "preprocess": inputs.spec.to_dict(),
        "settings": {"data": inputs.source, "calibration_images": len(inputs.calibration), "io_type": settings.io_type,
                     "per_channel": not settings.per_tensor, "onnx_opset": OPSET, "parity_split": settings.split,
                     "min_int8_agreement": settings.min_int8_agreement},
        "checks": _checks(checked),
        "int8_io": checked.int8_io,
        "tflm": checked.parity["tflm"],
        "edgetpu": _edgetpu_summary(checked.edgetpu),
        "files": {p.name: {"bytes": path_bytes(p), "sha256": sha256(p)}
                  for p in sorted(export.root.iterdir()) if not p.name.startswith(".")},
        "stage_seconds": dict(STAGE_SECONDS),
        "tools": {name: metadata.version(name) for name in PINNED_TOOLS},
        "python": platform.python_version(),
        "edgetpu_compatible": checked.edgetpu["compatible"],
    }
