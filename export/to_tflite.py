"""Checkpoint -> ONNX -> SavedModel -> TFLite float32 + full-int8 for the Edge TPU, with checks and parity.

    python export/to_tflite.py --ckpt CKPT [--out DIR] [--data ROOT] [--calib-samples N]
                               [--io-type int8|uint8] [--per-tensor] [--force]

Each stage prints its time and size; DIR receives model.onnx, saved_model/, model_float32.tflite,
model_int8.tflite, model.pt, labels.txt, preprocess.json, manifest.json, parity.json, edgetpu.json.
DIR appears only when everything succeeded.
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python export/to_tflite.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "export"  # noqa: A001

import numpy as np

from data.sources import DataError, load_labelled
from lightning_modules.checkpoint import CheckpointError, load_classifier

from .artifacts import STAGE_SECONDS, OutputExistsError, path_bytes, sha256, staged_directory, write_json
from .calibration import CalibrationError, calibration_pixels
from .edgetpu import write_report as write_edgetpu_report
from .onnx_export import OPSET, export_onnx
from .layout import ARTIFACT_FILES, PYTORCH_FILE
from .parity import format_table, run_parity
from .runtimes import OnnxRunner, SavedModelRunner, TFLiteRunner, TorchRunner
from .savedmodel import ConversionError, onnx_to_saved_model
from .tflite_convert import IO_TYPES, convert_float32, convert_int8

log = logging.getLogger("export")
CHECK_IMAGES = 8
PINNED_TOOLS = ("torch", "torchvision", "onnx", "onnxruntime", "onnx2tf", "tensorflow", "ai-edge-litert", "numpy")


@dataclass
class ExportResult:
    out: Path
    manifest: dict
    parity: dict
    edgetpu: dict


def _max_abs_diff(a, b, pixels) -> float:
    return float(np.abs(a.logits(pixels) - b.logits(pixels)).max())


def export_checkpoint(ckpt: Path, out: Path, data: str | None = None, calib_samples: int = 300,
                      io_type: str = "int8", per_tensor: bool = False, split: str = "test",
                      force: bool = False) -> ExportResult:
    started = time.perf_counter()
    STAGE_SECONDS.clear()
    out = Path(out).resolve()
    loaded = load_classifier(ckpt)
    spec, source, seed = loaded.spec, data or loaded.data_source, loaded.data.get("seed", 0)
    if io_type not in IO_TYPES:
        raise ValueError(f"--io-type must be one of {IO_TYPES}, got {io_type!r}")
    calibration = calibration_pixels(source, spec, calib_samples, seed, loaded.data.get("synthetic_counts"))
    evaluation = load_labelled(source, split, spec, seed, loaded.data.get("synthetic_counts"))
    check = calibration[:CHECK_IMAGES]
    log.info("%s from %s: %d calibration images, %d %s images of %s", loaded.arch, ckpt, len(calibration),
             len(evaluation), split, source)

    with staged_directory(out, force=force) as tmp:
        torch_runner = TorchRunner(loaded.model, spec)
        loaded.save(tmp / PYTORCH_FILE)
        spec.save(tmp)
        onnx_path = export_onnx(loaded.model, spec.input_size, tmp / ARTIFACT_FILES["onnx"])
        onnx_runner = OnnxRunner(onnx_path, spec)
        onnx_diff = _max_abs_diff(torch_runner, onnx_runner, check)
        saved_model = onnx_to_saved_model(onnx_path, tmp / ARTIFACT_FILES["saved_model"],
                                          spec.to_float_nhwc(calibration[:20]))
        saved_model_runner = SavedModelRunner(saved_model, spec)
        saved_model_diff = _max_abs_diff(onnx_runner, saved_model_runner, check)
        float_path = convert_float32(saved_model, tmp / ARTIFACT_FILES["tflite_float32"])
        int8_path = convert_int8(saved_model, tmp / ARTIFACT_FILES["tflite_int8"],
                                 spec.to_float_nhwc(calibration), io_type, per_tensor)
        log.info("max |logit diff| ONNX vs PyTorch %.2e, SavedModel vs ONNX %.2e", onnx_diff, saved_model_diff)

        edgetpu = write_edgetpu_report(int8_path, tmp / "edgetpu.json").to_dict()
        runners = {"pytorch": torch_runner, "onnx": onnx_runner, "saved_model": saved_model_runner,
                   "tflite_float32": TFLiteRunner(float_path, spec), "tflite_int8": TFLiteRunner(int8_path, spec)}
        parity = run_parity(tmp, evaluation, spec, runners)
        parity.update({"data": source, "split": split})
        write_json(tmp / "parity.json", parity)
        print(format_table(parity))

        manifest = {
            "checkpoint": str(Path(ckpt).resolve()),
            "checkpoint_sha256": sha256(Path(ckpt)),
            "arch": loaded.arch,
            "arch_kwargs": loaded.arch_kwargs,
            "preprocess": spec.to_dict(),
            "settings": {"data": source, "calibration_images": len(calibration), "io_type": io_type,
                         "per_channel": not per_tensor, "onnx_opset": OPSET, "parity_split": split},
            "checks": {"onnx_vs_pytorch_max_abs_logit_diff": onnx_diff,
                       "saved_model_vs_onnx_max_abs_logit_diff": saved_model_diff},
            "int8_io": {k: _io_quantization(runners["tflite_int8"], k) for k in ("input", "output")},
            "files": {p.name: {"bytes": path_bytes(p), "sha256": sha256(p)}
                      for p in sorted(tmp.iterdir()) if not p.name.startswith(".")},
            "stage_seconds": dict(STAGE_SECONDS),
            "tools": {name: metadata.version(name) for name in PINNED_TOOLS},
            "python": platform.python_version(),
            "edgetpu_compatible": edgetpu["compatible"],
        }
        manifest["total_seconds"] = time.perf_counter() - started
        write_json(tmp / "manifest.json", manifest)
    log.info("exported to %s in %.1f s (Edge TPU compatible: %s)", out, manifest["total_seconds"],
             edgetpu["compatible"])
    return ExportResult(Path(out), manifest, parity, edgetpu)


def _io_quantization(runner: TFLiteRunner, which: str) -> dict:
    detail = runner.input if which == "input" else runner.output
    scale, zero_point = detail["quantization"]
    return {"dtype": np.dtype(detail["dtype"]).name, "shape": [int(d) for d in detail["shape"]],
            "scale": float(scale), "zero_point": int(zero_point)}


def default_output_dir(ckpt: Path) -> Path:
    """``RUN/export`` for a checkpoint in ``RUN/checkpoints/``, else ``<ckpt stem>_export`` beside it."""
    ckpt = Path(ckpt)
    if ckpt.parent.name == "checkpoints":
        return ckpt.parent.parent / "export"
    return ckpt.with_name(f"{ckpt.stem}_export")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python export/to_tflite.py", description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True, type=Path, help="a checkpoint written by lightning_modules.fit")
    parser.add_argument("--out", type=Path, help="output directory (default: exports/<arch>-<checkpoint stem>)")
    parser.add_argument("--data", help="data for calibration and parity (default: the checkpoint's own)")
    parser.add_argument("--calib-samples", type=int, default=300, help="representative images (default 300)")
    parser.add_argument("--io-type", choices=IO_TYPES, default="int8", help="int8 model input/output type")
    parser.add_argument("--per-tensor", action="store_true", help="per-tensor instead of per-channel weights")
    parser.add_argument("--split", default="test", choices=["train", "val", "test"], help="parity split")
    parser.add_argument("--force", action="store_true", help="replace an existing output directory")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = args.out or default_output_dir(args.ckpt)
    try:
        result = export_checkpoint(args.ckpt, out, args.data, args.calib_samples, args.io_type,
                                   args.per_tensor, args.split, args.force)
    except (CheckpointError, OutputExistsError, CalibrationError, DataError, ConversionError,
            FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"artifacts: {result.out}")
    return 0 if result.edgetpu["compatible"] else 1


if __name__ == "__main__":
    sys.exit(main())
