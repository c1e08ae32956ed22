"""The checking pass of an export, once every format exists: ONNX and SavedModel logit differences, accuracy
parity of every row (with the TFLM block), the Edge TPU check, and the verdicts (``export.verdicts``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .artifacts import write_json
from .edgetpu import write_report as write_edgetpu_report
from .inputs import ExportInputs, ExportSettings
from .layout import ExportDir
from .parity import run_parity, runners_for
from .tflm_check import TFLMFacts
from .verdicts import edgetpu_failures, parity_failures

CHECK_IMAGES = 8  # calibration images on which the float conversions must give the same logits


@dataclass
class Checked:
    conversion: dict        # max |logit diff| of each float conversion against the format it came from
    int8_io: dict           # the int8 model's input and output quantization (as LiteRT reads it)
    parity: dict
    edgetpu: dict
    failures: list[str]     # one sentence per failed check; empty when all passed


def max_abs_logit_diff(a, b, pixels: np.ndarray) -> float:
    return float(np.abs(a.logits(pixels) - b.logits(pixels)).max())


def check_export(inputs: ExportInputs, settings: ExportSettings, export: ExportDir, tflm: TFLMFacts) -> Checked:
    """Run every check on the formats in ``export``, writing parity.json and edgetpu.json there."""
    runners = runners_for(export, inputs.spec, tflm, inputs.classifier.model)
    check = inputs.calibration[:CHECK_IMAGES]
    conversion = {
        "onnx_vs_pytorch_max_abs_logit_diff": max_abs_logit_diff(runners["pytorch"], runners["onnx"], check),
        "saved_model_vs_onnx_max_abs_logit_diff": max_abs_logit_diff(runners["onnx"], runners["saved_model"], check),
    }
    edgetpu = write_edgetpu_report(export.int8, export.edgetpu).to_dict()
    parity = run_parity(export.root, inputs.evaluation, inputs.spec, runners, tflm)
    parity.update({"data": inputs.source, "split": settings.split})
    write_json(export.parity, parity)
    failures = edgetpu_failures(edgetpu) + parity_failures(parity, settings.min_int8_agreement)
    return Checked(conversion, runners["tflite_int8"].io_quantization(), parity, edgetpu, failures)
