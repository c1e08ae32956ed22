"""Edge TPU rules: tensor and model-level rules, each with its source, plus the op table.

The op table (``EDGETPU_OPS``) lives in ``op_table``, the op versions in
``op_versions`` and the sources in ``sources``; they are re-exported here.
``ALL_RULES`` holds every rule the checker applies, by id.
"""

from __future__ import annotations

from dataclasses import dataclass

from .flatbuffer import _Tensor
from .limits import SOFTMAX_MAX_ELEMENTS, _OpView
from .op_table import EDGETPU_OPS, Limit, OpRule
from .op_versions import OP_VERSION_RULE, TFLITE_2_5_MAX_VERSION
from .sources import CHANGED, SOURCES, UNVERIFIED, VERIFIED, Rule

COMPILER_MAJOR_VERSION = 16
# The Edge TPU's on-chip parameter cache ("roughly 8 MB"; unverified, see
# PARAMETER_CACHE). edgetpu_compiler 15/16 logs show used + remaining on-chip
# memory of ~7.0 MiB (e.g. "3.21MiB used, 3.78MiB remaining"); past that the
# compiler streams parameters from host memory: the model still runs, slower.
PARAM_BUDGET_BYTES = 8 * 1024 * 1024
PARAM_WARN_BYTES = 7 * 1024 * 1024

_ACTIVATION_DTYPES = {"int8", "uint8"}
_CONSTANT_DTYPES = {"int8", "uint8", "int32"}  # int32: biases, shapes, axes, paddings

_FULLY_QUANTIZED = ("It supports only TensorFlow Lite models that are fully 8-bit quantized and then "
                    "compiled specifically for the Edge TPU.")

# --- tensor rules -----------------------------------------------------------

INT8_ACTIVATIONS = Rule("tensor:int8", VERIFIED, "coral models-intro", _FULLY_QUANTIZED,
                        note="every non-constant tensor is int8 or uint8")
QUANTIZATION_PARAMETERS = Rule("tensor:quantization-parameters", VERIFIED, "coral models-intro", _FULLY_QUANTIZED,
                               note="an int8/uint8 activation without scale and zero point is not quantized")
CONSTANT_DTYPES = Rule("tensor:constant-dtype", VERIFIED, "tensorflow quantization_spec.md",
                       "Input 2 (Bias): data_type : int32",
                       note="constants are int8/uint8, or int32 (biases per the int8 spec; shapes, axes and "
                            "paddings are int32 in TFLite)")
STATIC_SHAPES = Rule("tensor:static-shape", VERIFIED, "axis optimization tips",
                     "Tensor sizes must be constant at compile time. Dynamic sizes are not supported.")
RANK = Rule("tensor:rank", VERIFIED, "axis optimization tips",
            "All tensors must be 1-, 2-, or 3-dimensional. If a tensor has more than 3 dimensions, only the "
            "innermost 3 dimensions may have a size greater than 1.",
            note="applied to activations; constant weights (4-D conv filters) are exempt")

# --- model rules ------------------------------------------------------------

SUPPORTED_OPS = Rule("model:supported-ops", VERIFIED, "coral table (2019 copy)",
                     "아래 표에서 설명되는 Edge TPU에서 지원하는 연산자들만 사용해야 한다.",
                     note="(only the ops of the table may be used) ops outside EDGETPU_OPS, and Flex/custom "
                          "ops, are not mapped")
PARTITION_ONCE = Rule("model:partition-once", VERIFIED, "axis optimization tips",
                      "The Edge-TPU compiler cannot partition the model more than once, so if the model has an "
                      "operator that can't be run on the DLPU and instead must run on the CPU, the graph will be "
                      "split into two partitions where the unsupported operator and every operator after it "
                      "runs on the CPU.")
NOT_QUANTIZED = Rule("model:not-quantized", VERIFIED, "coral issue 290",
                     "Invalid model: osnet_ain_x1_0_msmt17_market1501_full_integer_quant.tflite "
                     "Model not quantized",
                     note="the compiler refuses a model without int8/uint8 activations outright")
SINGLE_SUBGRAPH = Rule("model:single-subgraph", UNVERIFIED, "unverified",
                       note="no source read says the compiler rejects several TFLite subgraphs; the log "
                            "status 'More than one subgraph is not supported' is about Edge TPU partitions")
BATCH_1 = Rule("model:batch-1", UNVERIFIED, "unverified",
               note="no source read states batch 1 as such; for 4-D inputs the verified rank rule "
                    "already rules out batch > 1")
PARAMETER_CACHE = Rule("model:parameter-cache", CHANGED, "compiler log (openvino2tensorflow 28)",
                       "Input size: 13.35MiB ... On-chip memory used for caching model parameters: 6.15MiB ... "
                       "Off-chip memory used for streaming uncached model parameters: 7.03MiB",
                       note="was: parameters over ~8 MB made the model incompatible. The compiler compiles "
                            "such models and streams what does not fit from host memory, so it is a warning "
                            "now; the ~8 MB figure itself is unverified")

TENSOR_RULES = (INT8_ACTIVATIONS, QUANTIZATION_PARAMETERS, CONSTANT_DTYPES, STATIC_SHAPES, RANK)
MODEL_RULES = (SUPPORTED_OPS, PARTITION_ONCE, OP_VERSION_RULE, NOT_QUANTIZED, SINGLE_SUBGRAPH, BATCH_1,
               PARAMETER_CACHE)


def _all_rules() -> dict[str, Rule]:
    rules = [*TENSOR_RULES, *MODEL_RULES]
    for op in EDGETPU_OPS.values():
        rules.append(op.row)
        rules.extend(limit.rule for limit in op.limits)
    by_id = {rule.id: rule for rule in rules}
    if len(by_id) != len(rules):
        raise ValueError("duplicate Edge TPU rule ids")
    return by_id


ALL_RULES: dict[str, Rule] = _all_rules()


@dataclass(frozen=True)
class Finding:
    """One reason a verdict went against the model, and the rule behind it."""

    rule: Rule
    message: str


def tensor_findings(t: _Tensor) -> list[Finding]:
    if t.is_const:
        if t.dtype not in _CONSTANT_DTYPES:
            return [Finding(CONSTANT_DTYPES, f"tensor {t.name} is {t.dtype} (constant)")]
        return []
    findings = []
    if t.dtype not in _ACTIVATION_DTYPES:
        findings.append(Finding(INT8_ACTIVATIONS, f"tensor {t.name} is {t.dtype}"))
    elif not t.scale:
        findings.append(Finding(QUANTIZATION_PARAMETERS,
                                f"tensor {t.name} is {t.dtype} without quantization parameters"))
    if any(d < 0 for d in t.signature):
        findings.append(Finding(STATIC_SHAPES, f"dynamic shape: tensor {t.name} has shape signature {t.signature}"))
    if t.rank > 3 and any(d > 1 for d in t.shape[:-3]):
        findings.append(Finding(RANK, f"rank rule: tensor {t.name} {t.shape} has a dimension > 1 "
                                      "outside the innermost three"))
    return findings


def input_findings(t: _Tensor) -> list[Finding]:
    """Model-level findings for one input of the main subgraph."""
    if any(d < 0 for d in t.signature):
        return [Finding(STATIC_SHAPES, f"input {t.name} has a dynamic shape {t.signature}: "
                                       "convert with static shapes and batch size 1")]
    if t.rank >= 2 and t.shape[0] != 1:
        return [Finding(BATCH_1, f"input {t.name} has batch size {t.shape[0]} (the Edge TPU needs batch 1)")]
    return []


def unverified_basis(findings: list[Finding], row: Rule | None = None) -> list[str]:
    """The unverified rules a verdict rests on.

    No findings: the verdict "maps" rests on the op's row. Findings: the
    verdict "does not map" rests on unverified rules only when no verified
    rule also speaks against the op.
    """
    if not findings:
        return [row.id] if row is not None and not row.verified else []
    if any(f.rule.verified for f in findings):
        return []
    return sorted({f.rule.id for f in findings})


__all__ = [
    "ALL_RULES", "COMPILER_MAJOR_VERSION", "EDGETPU_OPS", "PARAM_BUDGET_BYTES", "PARAM_WARN_BYTES",
    "SOFTMAX_MAX_ELEMENTS", "SOURCES", "TFLITE_2_5_MAX_VERSION", "Finding", "Limit", "OpRule", "Rule",
    "_OpView", "input_findings", "tensor_findings", "unverified_basis",
]
