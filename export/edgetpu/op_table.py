"""The Edge TPU operation table: which builtin ops map, their limitations, and the source of each.

Every row and limitation is a ``Rule`` naming its source (``sources.SOURCES``)
and quoting the wording it implements. Limitations that cannot be seen in a
.tflite file (RESHAPE "might not be mapped for large tensor sizes", RESIZE_*
"might not be mapped ... to avoid loss in precision") are quoted but left to
the compiler. ``docs/edgetpu_rules.md`` explains each row's standing.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import limits as lim
from .limits import LimitCheck
from .op_versions import TFLITE_2_5_MAX_VERSION
from .sources import UNVERIFIED, VERIFIED, Rule

AXIS = "coral table (axis copy)"
TABLE_2019 = "coral table (2019 copy)"
NO_FUSED_ACTIVATION = "No fused activation function."


@dataclass(frozen=True)
class Limit:
    rule: Rule
    check: LimitCheck


@dataclass(frozen=True)
class OpRule:
    name: str
    row: Rule  # the op is on the Edge TPU list
    limits: tuple[Limit, ...] = ()

    @property
    def max_version(self) -> int:
        return TFLITE_2_5_MAX_VERSION[self.name]


def _limit(op: str, key: str, check: LimitCheck, source: str, quote: str = "",
           status: str = VERIFIED, note: str = "") -> Limit:
    return Limit(Rule(f"limit:{op}:{key}", status, source, quote, note), check)


def _op(name: str, source: str, quote: str = "", *limits: Limit, status: str = VERIFIED,
        note: str = "") -> OpRule:
    return OpRule(name, Rule(f"op:{name}", status, source, quote, note), limits)


def _unverified(name: str, note: str, *limits: Limit) -> OpRule:
    return _op(name, "unverified", "", *limits, status=UNVERIFIED, note=note)


_CONV_DILATION = "Must use the same dilation in x and y dimensions."
_RESIZE_2019 = ("Input/output is a 3-dimensional tensor. Depending on input/output size, this operation "
                "may not be mapped to the Edge TPU to avoid loss in precision.")
_NOT_FOUND = "no source read lists it (see docs/edgetpu_rules.md)"

_ROWS = (
    _op("ADD", AXIS),
    _op("AVERAGE_POOL_2D", AXIS, NO_FUSED_ACTIVATION,
        _limit("AVERAGE_POOL_2D", "fused-activation", lim.no_fused_activation, AXIS, NO_FUSED_ACTIVATION)),
    _op("CONCATENATION", AXIS,
        "No fused activation function. If any input is a compile-time constant tensor, there must be only 2 "
        "inputs, and this constant tensor must be all zeros (effectively, a zero-padding op).",
        _limit("CONCATENATION", "fused-activation", lim.no_fused_activation, AXIS, NO_FUSED_ACTIVATION),
        _limit("CONCATENATION", "constant-input", lim.concatenation_constant_is_zero_padding, AXIS,
               "If any input is a compile-time constant tensor, there must be only 2 inputs, and this "
               "constant tensor must be all zeros (effectively, a zero-padding op).")),
    _op("CONV_2D", AXIS, _CONV_DILATION,
        _limit("CONV_2D", "dilation", lim.same_dilation, AXIS, _CONV_DILATION)),
    _op("DEPTHWISE_CONV_2D", AXIS, _CONV_DILATION,
        _limit("DEPTHWISE_CONV_2D", "dilation", lim.same_dilation, AXIS, _CONV_DILATION)),
    _op("EXPAND_DIMS", AXIS),
    _op("FULLY_CONNECTED", AXIS,
        "Only the default format is supported for fully-connected weights. Output tensor is one-dimensional.",
        _limit("FULLY_CONNECTED", "weights-format", lim.fully_connected_default_weights, AXIS,
               "Only the default format is supported for fully-connected weights."),
        _limit("FULLY_CONNECTED", "1d-output", lim.fully_connected_1d_output, AXIS,
               "Output tensor is one-dimensional.", note="read as: at most one dimension larger than 1")),
    _op("L2_NORMALIZATION", AXIS),
    _op("LOGISTIC", AXIS),
    _op("LSTM", AXIS, "Unidirectional LSTM only.",
        note="the LSTM builtin is the unidirectional one; BIDIRECTIONAL_SEQUENCE_LSTM is not on the list"),
    _op("MAXIMUM", AXIS),
    _op("MAX_POOL_2D", AXIS, NO_FUSED_ACTIVATION,
        _limit("MAX_POOL_2D", "fused-activation", lim.no_fused_activation, AXIS, NO_FUSED_ACTIVATION)),
    _op("MEAN", AXIS, "No reduction in batch dimension. If a z-reduction, the z-dimension must be multiple of 4.",
        _limit("MEAN", "constant-axes", lim.constant_axes, TABLE_2019,
               "Model parameters (예: bias tensor) 들은 compile-time에 상수이어야 한다.",
               note="requirements list: model parameters must be constant at compile time; the batch "
                    "and z checks need the axes"),
        _limit("MEAN", "batch", lim.no_batch_reduction, AXIS, "No reduction in batch dimension."),
        _limit("MEAN", "z-multiple-of-4", lim.mean_z_reduction_multiple_of_4, AXIS,
               "If a z-reduction, the z-dimension must be multiple of 4.")),
    _op("MINIMUM", AXIS),
    _op("MUL", AXIS),
    _op("PACK", AXIS, "No packing in batch dimension.",
        _limit("PACK", "batch", lim.no_batch_packing, AXIS, "No packing in batch dimension.")),
    _op("PAD", AXIS, "No padding in batch dimension.",
        _limit("PAD", "constant-paddings", lim.constant_paddings, TABLE_2019,
               "Model parameters (예: bias tensor) 들은 compile-time에 상수이어야 한다.",
               note="requirements list: model parameters must be constant at compile time"),
        _limit("PAD", "batch", lim.no_batch_padding, AXIS, "No padding in batch dimension.")),
    _op("PRELU", AXIS,
        "Alpha must be 1-dimensional (only the innermost dimension can be >1 size). If using Keras PReLU with "
        "4D input (batch, height, width, channels), then shared_axes must be [1,2] so each filter has only one "
        "set of parameters.",
        _limit("PRELU", "1d-alpha", lim.prelu_1d_alpha, AXIS,
               "Alpha must be 1-dimensional (only the innermost dimension can be >1 size).")),
    _op("QUANTIZE", AXIS),
    _op("REDUCE_MAX", AXIS, "Cannot operate on the batch dimension.",
        _limit("REDUCE_MAX", "constant-axes", lim.constant_axes, TABLE_2019,
               "Model parameters (예: bias tensor) 들은 compile-time에 상수이어야 한다."),
        _limit("REDUCE_MAX", "batch", lim.no_batch_reduction, AXIS, "Cannot operate on the batch dimension.")),
    _op("REDUCE_MIN", AXIS, "Cannot operate on the batch dimension.",
        _limit("REDUCE_MIN", "constant-axes", lim.constant_axes, TABLE_2019,
               "Model parameters (예: bias tensor) 들은 compile-time에 상수이어야 한다."),
        _limit("REDUCE_MIN", "batch", lim.no_batch_reduction, AXIS, "Cannot operate on the batch dimension.")),
    _op("RELU", AXIS),
    _op("RELU6", AXIS),
    _op("RELU_N1_TO_1", AXIS),
    _op("RESHAPE", AXIS, "Certain reshapes might not be mapped for large tensor sizes.",
        note="not checkable statically; left to the compiler"),
    _op("RESIZE_BILINEAR", AXIS,
        "Input/output is a 3-dimensional tensor. Depending on input/output size, this operation might not be "
        "mapped to the Edge TPU ...", note="the 3-D part is the model-level rank rule; the size part is left "
                                          "to the compiler"),
    _op("RESIZE_NEAREST_NEIGHBOR", TABLE_2019, _RESIZE_2019,
        note="the 3-D part is the model-level rank rule; the size part is left to the compiler"),
    _unverified("RSQRT", _NOT_FOUND),
    _op("SLICE", TABLE_2019),
    _op("SOFTMAX", TABLE_2019, "Supports only 1D input tensor with a max of 16,000 elements.",
        _limit("SOFTMAX", "1d-max-16000", lim.softmax_1d_max_elements, TABLE_2019,
               "Supports only 1D input tensor with a max of 16,000 elements.",
               note="1-D read as: at most one dimension larger than 1")),
    _op("SPACE_TO_DEPTH", TABLE_2019),
    _op("SPLIT", TABLE_2019, "",
        _limit("SPLIT", "constant-axis", lim.constant_split_axis, "unverified", status=UNVERIFIED,
               note="the 2019 row has no limitation; the current row was not readable"),
        _limit("SPLIT", "batch", lim.no_batch_split, "unverified", status=UNVERIFIED,
               note="the 2019 row has no limitation; the current row was not readable")),
    _unverified("SQUARED_DIFFERENCE", _NOT_FOUND),
    _op("SQUEEZE", TABLE_2019,
        "Supported only when input tensor dimensions that have leading 1s (that is, no relayout needed). "
        "For example input tensor with [y][x][z] = 1,1,10 or 1,5,10 is ok. But [y][x][z] = 5,1,10 is not "
        "supported.",
        note="limitation not enforced: only the 2019 edition was readable, and that edition's Mean and Pad "
             "limits were relaxed later (see docs/edgetpu_rules.md)"),
    _op("STRIDED_SLICE", TABLE_2019,
        "Supported only when all strides are equal to 1 (that is, effectively a Stride op), and with "
        "ellipsis-axis-mask == 0, and new-axis-max == 0.",
        _limit("STRIDED_SLICE", "unit-strides", lim.strided_slice_unit_strides, TABLE_2019,
               "Supported only when all strides are equal to 1 (that is, effectively a Stride op)"),
        _limit("STRIDED_SLICE", "masks", lim.strided_slice_no_ellipsis_or_new_axis, TABLE_2019,
               "and with ellipsis-axis-mask == 0, and new-axis-max == 0.")),
    _op("SUB", TABLE_2019),
    _unverified("SUM", _NOT_FOUND,
                _limit("SUM", "constant-axes", lim.constant_axes, "unverified", status=UNVERIFIED,
                       note="the SUM row itself is unverified; written like MEAN's"),
                _limit("SUM", "batch", lim.no_batch_reduction, "unverified", status=UNVERIFIED,
                       note="the SUM row itself is unverified; written like MEAN's")),
    _op("TANH", TABLE_2019),
    _op("TRANSPOSE", "coral issue 193", "Compiler version 16 supports 'Transpose' operations."),
    _op("TRANSPOSE_CONV", "coral issue 684",
        "EdgeTPU Supported operations tabel says it support Conv2DTranspose",
        note="a user quoting (with a screenshot) Coral's table"),
)

EDGETPU_OPS: dict[str, OpRule] = {row.name: row for row in _ROWS}
