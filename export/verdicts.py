"""The verdicts of an export's checks, each failed check as one sentence; any failure makes a CLI exit 1.

* the int8 model must map fully to the Edge TPU (edgetpu.json);
* TFLM must have a kernel for every op, and answer as LiteRT's reference kernels do: at most one quantization
  step apart and the same class on every image. Bit-exact is the goal and is reported, but the two kernel
  libraries round a requantization tie differently on a few images (0.1-0.5 % of them, one step, never the
  class: docs/results.md), which is no reason to refuse a model;
* every int8 row must agree with PyTorch on at least ``min_int8_agreement`` of the parity images.
"""

from __future__ import annotations

from .layout import INT8_ROWS

ROUNDING_STEPS = 1  # a requantization tie rounded the other way


def edgetpu_failures(edgetpu: dict) -> list[str]:
    if edgetpu["compatible"]:
        return []
    details = [f"{edgetpu['tpu_ops']} of {edgetpu['num_ops']} ops on the TPU"]
    if edgetpu["first_unsupported_op"]:
        details.append(f"first unmappable op {edgetpu['first_unsupported_op']}")
    return [f"the int8 model is not Edge TPU-mappable ({'; '.join(details + edgetpu['issues'])})"]


def tflm_failures(tflm: dict) -> list[str]:
    if tflm["unsupported_ops"]:
        return [f"TFLM {tflm['version']} has no kernel for {', '.join(tflm['unsupported_ops'])}: the int8 model "
                "cannot run on a microcontroller as it is"]
    reference = tflm["vs_litert_reference"]
    if reference["max_abs_diff_steps"] <= ROUNDING_STEPS and reference["top1_agreement"] == 1.0:
        return []
    return [f"TFLM differs from LiteRT's reference kernels beyond rounding: {reference['exact_match_rate']:.1%} of "
            f"{reference['images']} images bit-exact, up to {reference['max_abs_diff_steps']} quantization step(s) "
            f"apart, the same class on {reference['top1_agreement']:.1%}"]


def agreement_failures(rows: dict, min_int8_agreement: float) -> list[str]:
    return [f"{row} agrees with PyTorch on {rows[row]['agreement_with_pytorch']:.1%} of the images, below "
            f"--min-int8-agreement {min_int8_agreement:g}"
            for row in INT8_ROWS if row in rows and rows[row]["agreement_with_pytorch"] < min_int8_agreement]


def parity_failures(parity: dict, min_int8_agreement: float) -> list[str]:
    return tflm_failures(parity["tflm"]) + agreement_failures(parity["artifacts"], min_int8_agreement)
