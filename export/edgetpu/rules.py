"""Edge TPU rules: supported ops, op versions, per-op limitations, tensor checks.

The requirements are the ones documented by Coral ("TensorFlow models on the
Edge TPU", https://coral.ai/docs/edgetpu/models-intro/); the max op versions
are those of TFLite 2.5, which edgetpu_compiler 16 is built on (see the
comments at TFLITE_2_5_MAX_VERSION and EDGETPU_OPS for the sources). The list
of requirements is in the package docstring (``export.edgetpu``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .flatbuffer import _Tensor, schema

COMPILER_MAJOR_VERSION = 16
# Coral: "the Edge TPU has roughly 8 MB of SRAM" for caching parameters.
PARAM_BUDGET_BYTES = 8 * 1024 * 1024
# edgetpu_compiler 15/16 logs show used + remaining on-chip memory of ~7.0 MiB
# (e.g. "6.02MiB used, 1.02MiB remaining"); past that it streams parameters
# from host memory: it still works, but slower. We warn above this.
PARAM_WARN_BYTES = 7 * 1024 * 1024
SOFTMAX_MAX_ELEMENTS = 16000

# ---------------------------------------------------------------------------
# Op/version tables
# ---------------------------------------------------------------------------

# Highest version of every builtin op that the TFLite 2.5 op resolver knows
# (tensorflow/lite/kernels/register.cc at v2.5.0; cross-checked against
# tensorflow/lite/tools/versioning/runtime_version.cc). edgetpu_compiler 16
# (16.0.384591198, 2021) and Coral's last tflite_runtime (2.5.0.post1) are of
# that generation; the compiler fails with "Didn't find op for builtin opcode
# 'X' version 'N'" on anything newer -- reported for CONV_2D v6, EXP v2,
# TRANSPOSE_CONV v4 and QUANTIZE v3 (google-coral/edgetpu #631, #845, #879,
# libedgetpu #71). This applies to *every* op in the model, including the
# ones that would run on the CPU: the compiler cannot parse the model at all.
_TFLITE_2_5_VERSIONS_ABOVE_1 = {
    "ABS": 3, "ADD": 3, "ARG_MAX": 2, "ARG_MIN": 2, "AVERAGE_POOL_2D": 3,
    "BATCH_MATMUL": 4, "BATCH_TO_SPACE_ND": 3, "BIDIRECTIONAL_SEQUENCE_LSTM": 3,
    "BIDIRECTIONAL_SEQUENCE_RNN": 3, "BROADCAST_TO": 3, "CONCATENATION": 3,
    "CONV_2D": 5, "DEPTH_TO_SPACE": 2, "DEPTHWISE_CONV_2D": 6, "DEQUANTIZE": 4,
    "DIV": 2, "EMBEDDING_LOOKUP": 3, "EQUAL": 3, "FAKE_QUANT": 2, "FILL": 3,
    "FLOOR_DIV": 2, "FULLY_CONNECTED": 9, "GATHER": 5, "GATHER_ND": 3,
    "GREATER": 2, "GREATER_EQUAL": 2, "L2_NORMALIZATION": 2, "LEAKY_RELU": 2,
    "LESS": 2, "LESS_EQUAL": 2, "LOG_SOFTMAX": 2, "LOGISTIC": 3, "LSTM": 4,
    "MAX_POOL_2D": 3, "MAXIMUM": 4, "MEAN": 3, "MINIMUM": 4, "MIRROR_PAD": 2,
    "MUL": 4, "NOT_EQUAL": 3, "PACK": 3, "PAD": 3, "PADV2": 3, "QUANTIZE": 2,
    "REDUCE_MAX": 3, "REDUCE_MIN": 3, "RELU": 3, "RELU6": 3,
    "RESIZE_BILINEAR": 4, "RESIZE_NEAREST_NEIGHBOR": 4, "REVERSE_V2": 3,
    "RNN": 3, "RSQRT": 2, "SELECT": 2, "SLICE": 5, "SOFTMAX": 3,
    "SPACE_TO_BATCH_ND": 3, "SPACE_TO_DEPTH": 2, "SPARSE_TO_DENSE": 3,
    "SPLIT": 4, "SPLIT_V": 2, "SQUARED_DIFFERENCE": 2, "SQUEEZE": 2,
    "STRIDED_SLICE": 5, "SUB": 5, "SUM": 2, "SVDF": 4, "TANH": 3, "TILE": 2,
    "TOPK_V2": 2, "TRANSPOSE": 5, "TRANSPOSE_CONV": 3,
    "UNIDIRECTIONAL_SEQUENCE_LSTM": 3, "UNIDIRECTIONAL_SEQUENCE_RNN": 3,
    "UNPACK": 4,
}
_TFLITE_2_5_VERSION_1_ONLY = (
    "ADD_N", "CALL_ONCE", "CAST", "CEIL", "COMPLEX_ABS", "CONV_3D", "COS",
    "CUMSUM", "DENSIFY", "ELU", "EMBEDDING_LOOKUP_SPARSE", "EXP", "EXPAND_DIMS",
    "FLOOR", "FLOOR_MOD", "HARD_SWISH", "HASHTABLE", "HASHTABLE_FIND",
    "HASHTABLE_IMPORT", "HASHTABLE_LOOKUP", "HASHTABLE_SIZE", "IF", "IMAG",
    "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION", "LOG", "LOGICAL_AND",
    "LOGICAL_NOT", "LOGICAL_OR", "LSH_PROJECTION", "MATRIX_DIAG",
    "MATRIX_SET_DIAG", "NEG", "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5",
    "ONE_HOT", "POW", "PRELU", "RANGE", "RANK", "REAL", "REDUCE_ANY",
    "REDUCE_PROD", "RELU_N1_TO_1", "RESHAPE", "REVERSE_SEQUENCE", "RFFT2D",
    "ROUND", "SCATTER_ND", "SEGMENT_SUM", "SELECT_V2", "SHAPE", "SIN",
    "SKIP_GRAM", "SQRT", "SQUARE", "UNIQUE", "WHERE", "WHILE", "ZEROS_LIKE",
)
TFLITE_2_5_MAX_VERSION: dict[str, int] = {
    **{name: 1 for name in _TFLITE_2_5_VERSION_1_ONLY},
    **_TFLITE_2_5_VERSIONS_ABOVE_1,
}

# ---------------------------------------------------------------------------
# Per-op rules
# ---------------------------------------------------------------------------


@dataclass
class _OpView:
    """What a per-op limitation check gets to look at."""

    name: str
    options: Any  # the op's builtin options object (e.g. schema.Conv2DOptionsT) or None
    inputs: list[_Tensor | None]  # None for omitted optional inputs
    outputs: list[_Tensor]

    def input(self, i: int) -> _Tensor | None:
        return self.inputs[i] if i < len(self.inputs) else None


LimitCheck = Callable[[_OpView], list[str]]


@dataclass(frozen=True)
class OpRule:
    max_version: int
    check: LimitCheck | None = None


# --- per-op limitation checks (Coral "supported operations" table) ---------

_ACTIVATION_NAMES = {
    v: k for k, v in vars(schema.ActivationFunctionType).items() if not k.startswith("_")
}


def _no_fused_activation(view: _OpView) -> list[str]:
    act = getattr(view.options, "fusedActivationFunction", 0) or 0
    if act != schema.ActivationFunctionType.NONE:
        return [f"limitation: {view.name} must not have a fused activation "
                f"(has {_ACTIVATION_NAMES.get(act, act)})"]
    return []


def _check_concatenation(view: _OpView) -> list[str]:
    reasons = _no_fused_activation(view)
    consts = [t for t in view.inputs if t is not None and t.is_const]
    if consts:
        if len(view.inputs) != 2:
            reasons.append("limitation: CONCATENATION with a constant input must have exactly 2 inputs")
        if any(t.values is None or np.any(t.values != 0) for t in consts):
            reasons.append("limitation: CONCATENATION constant input must be all zeros")
    return reasons


def _same_dilation(view: _OpView) -> list[str]:
    o = view.options
    if o is not None and o.dilationWFactor != o.dilationHFactor:
        return [f"limitation: {view.name} needs equal x/y dilation "
                f"(has {o.dilationHFactor}x{o.dilationWFactor})"]
    return []


def _count_non_unit(shape: Sequence[int]) -> int:
    return sum(1 for d in shape if d != 1)


def _check_fully_connected(view: _OpView) -> list[str]:
    reasons = []
    o = view.options
    if o is not None and o.weightsFormat != schema.FullyConnectedOptionsWeightsFormat.DEFAULT:
        reasons.append("limitation: FULLY_CONNECTED weights must use the default format")
    for out in view.outputs:
        if _count_non_unit(out.shape) > 1:
            reasons.append(f"limitation: FULLY_CONNECTED output must be 1-D (tensor {out.name} is {out.shape})")
    return reasons


def _const_ints(t: _Tensor | None) -> list[int] | None:
    if t is None or not t.is_const or t.values is None:
        return None
    return [int(v) for v in np.asarray(t.values).reshape(-1)]


def _reduce_axes(view: _OpView) -> tuple[_Tensor | None, list[int] | None]:
    data, axes = view.input(0), _const_ints(view.input(1))
    if data is None or axes is None:
        return data, None
    return data, sorted({a % data.rank for a in axes}) if data.rank else []


def _check_reduce(view: _OpView) -> list[str]:
    data, axes = _reduce_axes(view)
    if axes is None:
        return [f"limitation: {view.name} reduction axes must be constant"]
    if data is not None and data.rank >= 2 and 0 in axes:
        return [f"limitation: {view.name} must not reduce the batch dimension (axes {axes})"]
    return []


def _check_mean(view: _OpView) -> list[str]:
    reasons = _check_reduce(view)
    data, axes = _reduce_axes(view)
    if data is not None and axes and data.rank >= 2 and (data.rank - 1) in axes:
        depth = data.shape[-1]
        if depth % 4:
            reasons.append("limitation: MEAN over the channel (z) dimension needs a multiple "
                           f"of 4 channels (has {depth})")
    return reasons


def _check_pad(view: _OpView) -> list[str]:
    pads = _const_ints(view.input(1))
    data = view.input(0)
    if pads is None:
        return ["limitation: PAD paddings must be constant"]
    if data is not None and data.rank >= 2 and any(pads[:2]):
        return [f"limitation: PAD must not pad the batch dimension (paddings {pads[:2]})"]
    return []


def _check_pack(view: _OpView) -> list[str]:
    if view.options is not None and view.options.axis == 0:
        return ["limitation: PACK must not pack along the batch dimension (axis 0)"]
    return []


def _check_split(view: _OpView) -> list[str]:
    axis, data = _const_ints(view.input(0)), view.input(1)
    if axis is None:
        return ["limitation: SPLIT axis must be constant"]
    if data is not None and data.rank >= 2 and axis[0] % data.rank == 0:
        return ["limitation: SPLIT must not split the batch dimension"]
    return []


def _check_softmax(view: _OpView) -> list[str]:
    data = view.input(0)
    if data is None:
        return []
    size = int(np.prod(data.shape)) if data.shape else 1
    if _count_non_unit(data.shape) > 1 or size > SOFTMAX_MAX_ELEMENTS:
        return [f"limitation: SOFTMAX needs a 1-D input of at most {SOFTMAX_MAX_ELEMENTS} elements (has {data.shape})"]
    return []


def _check_strided_slice(view: _OpView) -> list[str]:
    reasons = []
    strides = _const_ints(view.input(3))
    if strides is None or any(s != 1 for s in strides):
        reasons.append(f"limitation: STRIDED_SLICE strides must all be 1 (has {strides})")
    o = view.options
    if o is not None and (o.ellipsisMask or o.newAxisMask):
        reasons.append("limitation: STRIDED_SLICE ellipsis_mask and new_axis_mask must be 0")
    return reasons


def _check_prelu(view: _OpView) -> list[str]:
    alpha = view.input(1)
    if alpha is not None and alpha.shape and any(d != 1 for d in alpha.shape[:-1]):
        return [f"limitation: PRELU alpha must be 1-D (only the innermost dimension > 1; has {alpha.shape})"]
    return []


# Operations the Edge TPU supports -> max op version edgetpu_compiler 16 knows,
# plus the checkable part of each op's "known limitations".
# Op list and limitations: Coral, "TensorFlow models on the Edge TPU",
# section "Supported operations" (https://coral.ai/docs/edgetpu/models-intro/,
# the runtime-14+/compiler-16 edition). Max versions: TFLITE_2_5_MAX_VERSION
# above (TFLite 2.5 register.cc). Limitations that cannot be seen statically
# (RESHAPE "might not be mapped for large tensor sizes", RESIZE_* "may not be
# mapped to avoid loss in precision") are left to the compiler.
EDGETPU_OPS: dict[str, OpRule] = {
    "ADD": OpRule(3),
    "AVERAGE_POOL_2D": OpRule(3, _no_fused_activation),
    "CONCATENATION": OpRule(3, _check_concatenation),
    "CONV_2D": OpRule(5, _same_dilation),
    "DEPTHWISE_CONV_2D": OpRule(6, _same_dilation),
    "EXPAND_DIMS": OpRule(1),
    "FULLY_CONNECTED": OpRule(9, _check_fully_connected),
    "L2_NORMALIZATION": OpRule(2),
    "LOGISTIC": OpRule(3),
    "LSTM": OpRule(4),  # unidirectional only (the LSTM builtin is)
    "MAXIMUM": OpRule(4),
    "MAX_POOL_2D": OpRule(3, _no_fused_activation),
    "MEAN": OpRule(3, _check_mean),
    "MINIMUM": OpRule(4),
    "MUL": OpRule(4),
    "PACK": OpRule(3, _check_pack),
    "PAD": OpRule(3, _check_pad),
    "PRELU": OpRule(1, _check_prelu),
    "QUANTIZE": OpRule(2),
    "REDUCE_MAX": OpRule(3, _check_reduce),
    "REDUCE_MIN": OpRule(3, _check_reduce),
    "RELU": OpRule(3),
    "RELU6": OpRule(3),
    "RELU_N1_TO_1": OpRule(1),
    "RESHAPE": OpRule(1),
    "RESIZE_BILINEAR": OpRule(4),  # 3-D input/output: covered by the rank rule
    "RESIZE_NEAREST_NEIGHBOR": OpRule(4),  # idem
    "RSQRT": OpRule(2),
    "SLICE": OpRule(5),
    "SOFTMAX": OpRule(3, _check_softmax),
    "SPACE_TO_DEPTH": OpRule(2),
    "SPLIT": OpRule(4, _check_split),
    "SQUARED_DIFFERENCE": OpRule(2),
    "SQUEEZE": OpRule(2),
    "STRIDED_SLICE": OpRule(5, _check_strided_slice),
    "SUB": OpRule(5),
    "SUM": OpRule(2, _check_reduce),
    "TANH": OpRule(3),
    "TRANSPOSE": OpRule(5),
    "TRANSPOSE_CONV": OpRule(3),
}

# ---------------------------------------------------------------------------
# Tensor checks: dtype, quantization, static shape, rank
# ---------------------------------------------------------------------------

_ACTIVATION_DTYPES = {"int8", "uint8"}
_CONSTANT_DTYPES = {"int8", "uint8", "int32"}  # int32: biases, shapes, axes, paddings


def _tensor_reasons(t: _Tensor) -> list[str]:
    reasons = []
    if t.is_const:
        if t.dtype not in _CONSTANT_DTYPES:
            reasons.append(f"tensor {t.name} is {t.dtype} (constant)")
        return reasons
    if t.dtype not in _ACTIVATION_DTYPES:
        reasons.append(f"tensor {t.name} is {t.dtype}")
    elif not t.scale:
        reasons.append(f"tensor {t.name} is {t.dtype} without quantization parameters")
    if any(d < 0 for d in t.signature):
        reasons.append(f"dynamic shape: tensor {t.name} has shape signature {t.signature}")
    if t.rank > 3 and any(d > 1 for d in t.shape[:-3]):
        reasons.append(f"rank rule: tensor {t.name} {t.shape} has a dimension > 1 outside the innermost three")
    return reasons
