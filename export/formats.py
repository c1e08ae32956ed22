"""Conversion: every format of an export, one stage each (its time and size logged), in conversion order.

model.pt -> ONNX -> SavedModel -> TFLite float32 -> TFLite int8 -> TFLM's arena and ops -> the MCU C array.
Nothing here judges the results: ``export.checks`` does, once every format exists.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lightning_modules.checkpoint import LoadedClassifier

from .artifacts import OutputWriteError, stage
from .inputs import ExportInputs, ExportSettings
from .layout import ExportDir
from .mcu import write_c_array
from .onnx_export import export_onnx
from .savedmodel import onnx_to_saved_model
from .tflite_convert import convert_float32, convert_int8
from .tflm_check import TFLMFacts, measure_tflm

log = logging.getLogger("export")
ONNX2TF_SAMPLES = 20


@stage("PyTorch")
def write_pytorch(classifier: LoadedClassifier, export: ExportDir) -> Path:
    """model.pt (the parity reference) and the preprocessing spec beside it."""
    try:
        classifier.save(export.pytorch)
    except RuntimeError as e:  # torch's zip writer reports a failed write (a full disk) this way, with no errno
        raise OutputWriteError(f"torch.save failed on {export.pytorch}: {str(e).splitlines()[0]}") from e
    classifier.spec.save(export.root)
    return export.pytorch


@stage("MCU C array")
def write_mcu_array(export: ExportDir, labels: tuple[str, ...], tflm: TFLMFacts) -> tuple[Path, ...]:
    if not tflm.runs:
        log.warning("no %s / %s: TFLM has no kernel for %s", export.c_source.name, export.c_header.name,
                    ", ".join(tflm.unsupported_ops))
        return ()
    return write_c_array(export.int8, export.root, labels, tflm.arena_bytes, tflm.ops)


def write_formats(inputs: ExportInputs, settings: ExportSettings, export: ExportDir) -> TFLMFacts:
    """Write every format into ``export``; returns what TFLM's measurement found (the checks need it)."""
    spec, calibration = inputs.spec, inputs.calibration
    write_pytorch(inputs.classifier, export)
    export_onnx(inputs.classifier.model, spec.input_size, export.onnx)
    onnx_to_saved_model(export.onnx, export.saved_model, spec.to_float_nhwc(calibration[:ONNX2TF_SAMPLES]))
    convert_float32(export.saved_model, export.float32)
    convert_int8(export.saved_model, export.int8, spec.to_float_nhwc(calibration), settings.io_type,
                 settings.per_tensor)
    tflm = measure_tflm(export.int8)
    write_mcu_array(export, spec.labels, tflm)
    return tflm
