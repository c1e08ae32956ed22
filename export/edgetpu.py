"""Static Edge TPU compatibility check for a TFLite flatbuffer.

Reads a ``.tflite`` file with the flatbuffer schema module that ships with
``ai_edge_litert`` (or TensorFlow) and checks it against the Edge TPU model
requirements documented by Coral ("TensorFlow models on the Edge TPU",
https://coral.ai/docs/edgetpu/models-intro/):

* every tensor is int8/uint8 (int32 allowed for constants such as biases);
* static shapes, batch 1;
* tensors are at most 3-D, or only the innermost three dimensions are > 1;
* only operations from the supported list, within their per-op limitations;
* no Flex/custom ops, and op versions that edgetpu_compiler 16 can parse;
* a single subgraph, and parameters that fit the ~8 MB on-chip memory.

The compiler partitions once: the first op that cannot be mapped, and every
op after it, run on the CPU. The report says which ops would run where.

If ``edgetpu_compiler`` is on PATH (or given explicitly) it is also run, its
log is kept in the report, and its verdict is folded into ``compatible``.

Command line::

    python -m export.edgetpu MODEL.tflite [--json] [--no-compiler] [--compiler PATH]

Exit status: 0 compatible, 1 not compatible, 2 unreadable input (missing file,
not a TFLite flatbuffer, truncated) or a compiler path that does not exist.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

try:  # ai_edge_litert imports in ~0.2 s; the TensorFlow copy pulls in all of TF.
    from ai_edge_litert import schema_py_generated as schema
except ImportError:  # pragma: no cover - fallback for environments without LiteRT
    from tensorflow.lite.python import schema_py_generated as schema

__all__ = [
    "EDGETPU_OPS",
    "TFLITE_2_5_MAX_VERSION",
    "PARAM_BUDGET_BYTES",
    "EdgeTpuCheckError",
    "InvalidModelError",
    "ModelNotFoundError",
    "CompilerNotFoundError",
    "TensorInfo",
    "OpReport",
    "CompilerOpStatus",
    "CompilerRun",
    "EdgeTpuReport",
    "check_model",
    "parse_compiler_output",
    "run_compiler",
    "render_table",
    "write_report",
    "main",
]

COMPILER_MAJOR_VERSION = 16
TFLITE_IDENTIFIER = b"TFL3"
# Coral: "the Edge TPU has roughly 8 MB of SRAM" for caching parameters.
PARAM_BUDGET_BYTES = 8 * 1024 * 1024
# edgetpu_compiler 15/16 logs show used + remaining on-chip memory of ~7.0 MiB
# (e.g. "6.02MiB used, 1.02MiB remaining"); past that it streams parameters
# from host memory: it still works, but slower. We warn above this.
PARAM_WARN_BYTES = 7 * 1024 * 1024
COMPILER_NAME = "edgetpu_compiler"
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


@dataclass
class _Tensor:
    """One tensor of the main subgraph, extracted from the flatbuffer."""

    index: int
    name: str
    dtype: str
    shape: list[int]
    signature: list[int]
    is_const: bool
    scale: list[float]
    zero_point: list[int]
    quantized_dimension: int
    values: np.ndarray | None  # decoded constant data (None if not constant)

    @property
    def rank(self) -> int:
        return len(self.shape)


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
# Errors and report types
# ---------------------------------------------------------------------------


class EdgeTpuCheckError(ValueError):
    """Base class: the check could not be carried out (bad input)."""


class InvalidModelError(EdgeTpuCheckError):
    """The file is not a readable TFLite flatbuffer."""


class ModelNotFoundError(InvalidModelError, FileNotFoundError):
    """The model file does not exist."""


class CompilerNotFoundError(EdgeTpuCheckError, FileNotFoundError):
    """An explicitly requested edgetpu_compiler does not exist."""


@dataclass
class TensorInfo:
    index: int
    name: str
    dtype: str
    shape: list[int]
    shape_signature: list[int]
    scale: list[float]  # empty when the tensor is not quantized
    zero_point: list[int]
    quantized_dimension: int


@dataclass
class OpReport:
    index: int  # execution order in the main subgraph
    op: str
    version: int
    mapped: bool  # the op itself can be mapped to the Edge TPU
    on_tpu: bool  # ...and it comes before the first unmapped op
    reasons: list[str] = field(default_factory=list)
    custom_code: str | None = None


@dataclass
class CompilerOpStatus:
    op: str
    count: int
    status: str

    @property
    def on_tpu(self) -> bool:
        return self.status.strip() == "Mapped to Edge TPU"


@dataclass
class CompilerRun:
    command: list[str]
    returncode: int | None
    compiled: bool  # the compiler produced a model
    ok: bool  # compiled and every operation runs on the Edge TPU
    version: str | None = None
    total_ops: int | None = None
    ops_on_tpu: int | None = None
    ops_on_cpu: int | None = None
    tpu_subgraphs: int | None = None
    on_chip_memory_used: str | None = None
    on_chip_memory_remaining: str | None = None
    off_chip_memory_used: str | None = None
    operators: list[CompilerOpStatus] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    log: str = ""


@dataclass
class EdgeTpuReport:
    model_path: str
    file_bytes: int
    num_subgraphs: int
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    ops: list[OpReport]
    first_unsupported_index: int | None
    first_unsupported_op: str | None
    num_ops: int
    tpu_ops: int
    tpu_share: float  # tpu_ops / num_ops (1.0 for an empty graph)
    param_bytes: int
    param_budget_bytes: int
    params_fit: bool
    graph_maps: bool  # every op mapped and the compiler can parse the model
    compatible: bool  # graph_maps, one subgraph, params fit, compiler (if run) agrees
    issues: list[str]  # model-level problems (each makes the model incompatible)
    warnings: list[str]
    compiler: CompilerRun | None
    compiler_note: str  # why the compiler was or was not run
    assumed_compiler_version: int = COMPILER_MAJOR_VERSION

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def render(self) -> str:
        return render_table(self)


# ---------------------------------------------------------------------------
# Flatbuffer parsing
# ---------------------------------------------------------------------------

_OP_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
_TYPE_NAMES = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
_NUMPY_DTYPES = {
    "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16,
    "int32": np.int32, "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64,
    "float16": np.float16, "float32": np.float32, "float64": np.float64, "bool": np.bool_,
}


def _ints(values: Any) -> list[int]:
    return [] if values is None else [int(v) for v in np.asarray(values).reshape(-1)]


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)


def _buffer_bytes(buf: Any, file_data: bytes) -> np.ndarray | None:
    """Raw bytes (a uint8 view, no copy) of a constant buffer, or None when empty."""
    if buf is None:
        return None
    if buf.offset and buf.offset > 1:  # >2 GB models keep data outside the flatbuffer
        if buf.offset + buf.size > len(file_data):
            raise InvalidModelError("buffer data lies beyond the end of the file (truncated?)")
        return np.frombuffer(file_data, dtype=np.uint8, count=buf.size, offset=buf.offset)
    if buf.data is None or len(buf.data) == 0:
        return None
    return np.asarray(buf.data, dtype=np.uint8)


@dataclass
class _ParsedModel:
    num_subgraphs: int
    tensors: list[_Tensor]
    ops: list[tuple[str, int, str | None, Any, list[int], list[int]]]  # name, version, custom, options, in, out
    inputs: list[int]
    outputs: list[int]
    param_bytes: int


def _read_model(path: Path) -> tuple[bytes, _ParsedModel]:
    if not path.exists():
        raise ModelNotFoundError(f"model file not found: {path}")
    if not path.is_file():
        raise InvalidModelError(f"not a file: {path}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidModelError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
        raise InvalidModelError(
            f"{path} is not a TFLite flatbuffer (no 'TFL3' file identifier at bytes 4..8)")
    try:
        return data, _parse(data)
    except InvalidModelError as exc:
        raise InvalidModelError(f"{path}: {exc}") from None
    except Exception as exc:  # flatbuffers raises struct.error/IndexError/ValueError on bad data
        raise InvalidModelError(
            f"{path} is truncated or corrupt: cannot parse the TFLite flatbuffer "
            f"({type(exc).__name__}: {exc})") from None


def _parse(data: bytes) -> _ParsedModel:
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    subgraphs = model.subgraphs or []
    if not subgraphs:
        raise InvalidModelError("the model has no subgraphs")
    buffers = model.buffers or []
    opcodes = model.operatorCodes or []

    def buffer_of(index: int) -> np.ndarray | None:
        if index <= 0:  # buffer 0 is the empty sentinel
            return None
        if index >= len(buffers):
            raise InvalidModelError(f"tensor refers to missing buffer {index}")
        return _buffer_bytes(buffers[index], data)

    # Parameter bytes: every distinct constant buffer referenced by any subgraph.
    const_buffers: dict[int, int] = {}
    for sg in subgraphs:
        for t in sg.tensors or []:
            raw = buffer_of(t.buffer)
            if raw is not None:
                const_buffers[t.buffer] = raw.size

    main = subgraphs[0]
    tensors = []
    for i, t in enumerate(main.tensors or []):
        dtype = _TYPE_NAMES.get(t.type, f"type{t.type}")
        raw = None if t.isVariable else buffer_of(t.buffer)
        shape = _ints(t.shape)
        values = None
        if raw is not None and dtype in _NUMPY_DTYPES and raw.size % np.dtype(_NUMPY_DTYPES[dtype]).itemsize == 0:
            values = raw.view(_NUMPY_DTYPES[dtype])
            if shape and values.size == int(np.prod(shape)):
                values = values.reshape(shape)
        q = t.quantization
        tensors.append(_Tensor(
            index=i,
            name=_text(t.name),
            dtype=dtype,
            shape=shape,
            signature=_ints(t.shapeSignature) if t.shapeSignature is not None else shape,
            is_const=raw is not None,
            scale=[float(s) for s in np.asarray(q.scale).reshape(-1)] if q is not None and q.scale is not None else [],
            zero_point=_ints(q.zeroPoint) if q is not None else [],
            quantized_dimension=int(q.quantizedDimension) if q is not None else 0,
            values=values,
        ))

    ops = []
    for op in main.operators or []:
        if not 0 <= op.opcodeIndex < len(opcodes):
            raise InvalidModelError(f"operator refers to missing opcode {op.opcodeIndex}")
        oc = opcodes[op.opcodeIndex]
        # Opcodes >= 127 only live in builtin_code; old files only set the
        # deprecated int8 field. TFLite itself takes the max of the two.
        code = max(int(oc.builtinCode or 0), int(oc.deprecatedBuiltinCode or 0))
        name = _OP_NAMES.get(code, f"BUILTIN_{code}")
        custom = _text(oc.customCode) if code == schema.BuiltinOperator.CUSTOM else None
        ins, outs = _ints(op.inputs), _ints(op.outputs)
        for idx in ins + outs:
            if idx >= len(tensors):
                raise InvalidModelError(f"operator refers to missing tensor {idx}")
        ops.append((name, int(oc.version or 1), custom, op.builtinOptions, ins, outs))

    return _ParsedModel(
        num_subgraphs=len(subgraphs),
        tensors=tensors,
        ops=ops,
        inputs=_ints(main.inputs),
        outputs=_ints(main.outputs),
        param_bytes=sum(const_buffers.values()),
    )


# ---------------------------------------------------------------------------
# The static check
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


def _format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def _tensor_info(t: _Tensor) -> TensorInfo:
    return TensorInfo(t.index, t.name, t.dtype, list(t.shape), list(t.signature),
                      list(t.scale), list(t.zero_point), t.quantized_dimension)


@dataclass
class _StaticResult:
    file_bytes: int
    model: _ParsedModel
    ops: list[OpReport]
    issues: list[str]
    warnings: list[str]
    compiler_would_refuse: bool  # too-new op versions or no quantization at all


def _static_check(path: Path) -> _StaticResult:
    data, pm = _read_model(path)
    tensors = pm.tensors
    reports: list[OpReport] = []
    parse_blockers: list[str] = []

    for index, (name, version, custom, options, ins, outs) in enumerate(pm.ops):
        reasons: list[str] = []
        if custom is not None:
            kind = "Flex" if custom.startswith("Flex") else "custom"
            reasons.append(f"Flex/custom op: {kind} op '{custom}' cannot run on the Edge TPU")
        else:
            rule = EDGETPU_OPS.get(name)
            if rule is None:
                reasons.append(f"unsupported op: {name} is not on the Edge TPU operation list")
            # The version check applies to every op: compiler 16 has to parse the
            # whole model, including the ops it would leave on the CPU.
            known = rule.max_version if rule is not None else TFLITE_2_5_MAX_VERSION.get(name)
            if known is None:
                reasons.append(f"op {name} is unknown to compiler {COMPILER_MAJOR_VERSION} (newer than TFLite 2.5)")
                parse_blockers.append(f"op #{index} {name} v{version}")
            elif version > known:
                reasons.append(f"op version {version} newer than compiler {COMPILER_MAJOR_VERSION} knows (max {known})")
                parse_blockers.append(f"op #{index} {name} v{version}")
            if rule is not None and rule.check is not None:
                view = _OpView(name, options,
                               [tensors[i] if i >= 0 else None for i in ins],
                               [tensors[i] for i in outs if i >= 0])
                reasons.extend(rule.check(view))
        seen = set()
        for i in ins + outs:
            if i >= 0 and i not in seen:
                seen.add(i)
                reasons.extend(_tensor_reasons(tensors[i]))
        reports.append(OpReport(index, name, version, mapped=not reasons, on_tpu=False,
                                reasons=reasons, custom_code=custom))

    issues: list[str] = []
    warnings: list[str] = []
    if parse_blockers:
        issues.append(
            f"edgetpu_compiler {COMPILER_MAJOR_VERSION} cannot parse this model "
            f"(\"Didn't find op for builtin opcode\"): {', '.join(parse_blockers)}")
    activations = [t for t in tensors if not t.is_const]
    not_quantized = bool(activations) and not any(t.dtype in _ACTIVATION_DTYPES for t in activations)
    if not_quantized:
        issues.append("Model not quantized: no int8/uint8 activation tensors "
                      "(needs full-integer post-training quantization or QAT)")
    if pm.num_subgraphs > 1:
        issues.append(f"{pm.num_subgraphs} subgraphs: the Edge TPU compiler supports only one "
                      "(control flow such as WHILE/IF creates more)")
    for i in pm.inputs:
        t = tensors[i]
        if any(d < 0 for d in t.signature):
            issues.append(f"input {t.name} has a dynamic shape {t.signature}: "
                          "convert with static shapes and batch size 1")
        elif t.rank >= 2 and t.shape[0] != 1:
            issues.append(f"input {t.name} has batch size {t.shape[0]} (the Edge TPU needs batch 1)")
    if pm.param_bytes > PARAM_BUDGET_BYTES:
        issues.append(f"parameters take {_format_bytes(pm.param_bytes)}, more than the "
                      f"~{_format_bytes(PARAM_BUDGET_BYTES)} of on-chip memory")
    elif pm.param_bytes > PARAM_WARN_BYTES:
        warnings.append(f"parameters take {_format_bytes(pm.param_bytes)}: compiler 16 caches about "
                        "7 MiB on chip and streams the rest from host memory (slower)")
    return _StaticResult(len(data), pm, reports, issues, warnings,
                         compiler_would_refuse=bool(parse_blockers) or not_quantized)


def check_model(path: str | os.PathLike[str], compiler: str | os.PathLike[str] | None = "auto",
                compiler_timeout: float = 600.0) -> EdgeTpuReport:
    """Check ``path`` against the Edge TPU requirements.

    ``compiler``: ``"auto"`` runs ``edgetpu_compiler`` when it is on PATH,
    ``None`` skips it, anything else is the compiler executable to run.

    Raises ``InvalidModelError`` (a ``ValueError``; ``ModelNotFoundError`` for a
    missing file) when the file cannot be read as a TFLite model, and
    ``CompilerNotFoundError`` when an explicit compiler path does not exist.
    """
    path = Path(path)
    compiler_path: str | None = None
    if compiler is None:
        note = "not run (disabled)"
    elif str(compiler) == "auto":
        compiler_path = shutil.which(COMPILER_NAME)
        note = f"ran {compiler_path}" if compiler_path else f"not run ({COMPILER_NAME} not on PATH)"
    else:
        compiler_path = shutil.which(str(compiler)) or (str(compiler) if Path(compiler).is_file() else None)
        if compiler_path is None:
            raise CompilerNotFoundError(f"edgetpu compiler not found: {compiler}")
        note = f"ran {compiler_path}"

    static = _static_check(path)
    pm, ops, issues, warnings = static.model, static.ops, static.issues, static.warnings

    # Partitioning: the first op that cannot be mapped and everything after it
    # run on the CPU. A model the compiler refuses runs entirely on the CPU.
    first = next((op.index for op in ops if not op.mapped), None)
    for op in ops:
        op.on_tpu = (op.mapped and not static.compiler_would_refuse
                     and (first is None or op.index < first))
    tpu_ops = sum(op.on_tpu for op in ops)
    graph_maps = first is None and not static.compiler_would_refuse
    params_fit = pm.param_bytes <= PARAM_BUDGET_BYTES
    compatible = graph_maps and not issues

    run = None
    if compiler_path is not None:
        run = run_compiler(path, compiler_path, timeout=compiler_timeout)
        if not run.ok:
            compatible = False
            if run.compiled and run.ops_on_cpu is not None:
                issues.append(f"edgetpu_compiler put {run.ops_on_cpu} operation(s) on the CPU")
            elif run.compiled:
                issues.append("edgetpu_compiler output does not say how many operations run on the CPU")
            else:
                issues.append("edgetpu_compiler failed: " + ("; ".join(run.errors) or "see log"))
        if run.compiled and graph_maps and not run.ok:
            warnings.append("the static check maps every op but the compiler did not: trust the compiler")
        if run.ok and not graph_maps:
            warnings.append("the compiler mapped every op but the static check did not: see the reasons")

    return EdgeTpuReport(
        model_path=str(path),
        file_bytes=static.file_bytes,
        num_subgraphs=pm.num_subgraphs,
        inputs=[_tensor_info(pm.tensors[i]) for i in pm.inputs],
        outputs=[_tensor_info(pm.tensors[i]) for i in pm.outputs],
        ops=ops,
        first_unsupported_index=first,
        first_unsupported_op=ops[first].op if first is not None else None,
        num_ops=len(ops),
        tpu_ops=tpu_ops,
        tpu_share=tpu_ops / len(ops) if ops else 1.0,
        param_bytes=pm.param_bytes,
        param_budget_bytes=PARAM_BUDGET_BYTES,
        params_fit=params_fit,
        graph_maps=graph_maps,
        compatible=compatible,
        issues=issues,
        warnings=warnings,
        compiler=run,
        compiler_note=note,
    )


# ---------------------------------------------------------------------------
# edgetpu_compiler
# ---------------------------------------------------------------------------

# Output format (compiler 15/16), e.g.
#   Edge TPU Compiler version 16.0.384591198
#   Model compiled successfully in 1354 ms.
#   ...
#   On-chip memory used for caching model parameters: 6.03MiB
#   Number of Edge TPU subgraphs: 1
#   Total number of operations: 143
#   Operation log: model_edgetpu.log
#   Model successfully compiled but not all operations are supported by the Edge TPU. ...
#   Number of operations that will run on Edge TPU: 139
#   Number of operations that will run on CPU: 4
#
#   Operator                       Count      Status
#
#   CONV_2D                        2          Mapped to Edge TPU
#   DEQUANTIZE                     1          Operation is working on an unsupported data type
# When every op maps, the two "Number of operations that will run" lines are
# not printed; the per-operator table (stdout with -s, and the .log file) is.
_RE_VERSION = re.compile(r"Edge TPU Compiler version\s+(\S+)")
_RE_INT_FIELDS = {
    "total_ops": re.compile(r"Total number of operations:\s*(\d+)"),
    "ops_on_tpu": re.compile(r"Number of operations that will run on Edge TPU:\s*(\d+)"),
    "ops_on_cpu": re.compile(r"Number of operations that will run on CPU:\s*(\d+)"),
    "tpu_subgraphs": re.compile(r"Number of Edge TPU subgraphs:\s*(\d+)"),
}
_RE_STR_FIELDS = {
    "on_chip_memory_used": re.compile(r"On-chip memory used for caching model parameters:\s*(\S+)"),
    "on_chip_memory_remaining": re.compile(r"On-chip memory remaining for caching model parameters:\s*(\S+)"),
    "off_chip_memory_used": re.compile(r"Off-chip memory used for streaming uncached model parameters:\s*(\S+)"),
}
_RE_TABLE_HEADER = re.compile(r"^\s*Operator\s+Count\s+Status\s*$")
_RE_TABLE_ROW = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s+(\d+)\s+(\S.*?)\s*$")
_RE_ERROR = re.compile(
    r"(ERROR|Error|[Ff]ailed|Invalid model|not quantized|could not be parsed|Internal compiler error)")
_COMPILED_MARK = "Model compiled successfully"


def parse_compiler_output(text: str) -> dict[str, Any]:
    """Parse edgetpu_compiler stdout/stderr and/or its .log file.

    Returns a dict with ``compiled``, ``version``, ``total_ops``,
    ``ops_on_tpu``, ``ops_on_cpu``, ``tpu_subgraphs``, the memory fields,
    ``operators`` (list of CompilerOpStatus, first table only) and ``errors``.
    ``ops_on_tpu``/``ops_on_cpu`` are derived from the operator table (or the
    total) when the compiler did not print them, i.e. when everything mapped.
    """
    out: dict[str, Any] = {"compiled": _COMPILED_MARK in text, "errors": [], "operators": []}
    m = _RE_VERSION.search(text)
    out["version"] = m.group(1) if m else None
    for key, rx in _RE_INT_FIELDS.items():
        m = rx.search(text)
        out[key] = int(m.group(1)) if m else None
    for key, rx in _RE_STR_FIELDS.items():
        m = rx.search(text)
        out[key] = m.group(1) if m else None

    lines = text.splitlines()
    in_table = False
    for line in lines:
        if _RE_TABLE_HEADER.match(line):
            if out["operators"]:
                break  # the same table again (stdout followed by the .log file)
            in_table = True
            continue
        if in_table:
            m = _RE_TABLE_ROW.match(line)
            if m:
                out["operators"].append(CompilerOpStatus(m.group(1), int(m.group(2)), m.group(3)))
            elif line.strip() and out["operators"]:
                in_table = False
    for line in lines:
        if _RE_ERROR.search(line) and line.strip() not in out["errors"]:
            out["errors"].append(line.strip())

    if out["compiled"] and out["ops_on_cpu"] is None:
        if out["operators"]:
            out["ops_on_tpu"] = sum(o.count for o in out["operators"] if o.on_tpu)
            out["ops_on_cpu"] = sum(o.count for o in out["operators"] if not o.on_tpu)
        elif out["total_ops"] is not None and "not all operations are supported" not in text:
            out["ops_on_tpu"], out["ops_on_cpu"] = out["total_ops"], 0
    return out


def run_compiler(model: str | os.PathLike[str], compiler: str = COMPILER_NAME,
                 timeout: float = 600.0) -> CompilerRun:
    """Run ``compiler -s -o TMPDIR model`` and parse what it says."""
    with tempfile.TemporaryDirectory(prefix="edgetpu_check_") as tmp:
        cmd = [str(compiler), "-s", "-o", tmp, str(model)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                                  timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            msg = (f"timed out after {timeout:.0f} s" if isinstance(exc, subprocess.TimeoutExpired)
                   else f"cannot run {compiler}: {exc}")
            return CompilerRun(cmd, None, compiled=False, ok=False, errors=[msg], log=msg)
        log = proc.stdout + (("\n" + proc.stderr) if proc.stderr else "")
        for log_file in sorted(Path(tmp).glob("*.log")):
            log += f"\n--- {log_file.name} ---\n" + log_file.read_text(errors="replace")

    parsed = parse_compiler_output(log)
    compiled = parsed.pop("compiled") and proc.returncode == 0
    ok = compiled and parsed["ops_on_cpu"] == 0
    if proc.returncode != 0 and not parsed["errors"]:
        parsed["errors"].append(f"exit status {proc.returncode}")
    return CompilerRun(cmd, proc.returncode, compiled=compiled, ok=ok, log=log, **parsed)


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def _describe_tensor(t: TensorInfo) -> str:
    shape = t.shape if t.shape == t.shape_signature else f"{t.shape} (signature {t.shape_signature})"
    text = f"{t.name}  {t.dtype} {shape}"
    if t.scale:
        s = t.scale[0] if len(t.scale) == 1 else t.scale
        z = t.zero_point[0] if len(t.zero_point) == 1 else t.zero_point
        text += f"  scale={s:.6g} zero_point={z}" if len(t.scale) == 1 else f"  scale={s} zero_point={z}"
    else:
        text += "  (not quantized)"
    return text


def render_table(report: EdgeTpuReport) -> str:
    """Human-readable report: one row per operator, then the summary."""
    lines = [f"Edge TPU check: {report.model_path} ({_format_bytes(report.file_bytes)})"]
    for label, tensors in (("Input ", report.inputs), ("Output", report.outputs)):
        for t in tensors:
            lines.append(f"{label}: {_describe_tensor(t)}")
    lines.append("")
    width = max([len("Operator")] + [len(op.op) for op in report.ops])
    lines.append(f"{'#':>4}  {'Operator':<{width}}  {'Ver':>3}  {'Mapped':<6}  {'Runs on':<7}  Reasons")
    for op in report.ops:
        first, *rest = op.reasons or [""]
        lines.append(f"{op.index:>4}  {op.op:<{width}}  {op.version:>3}  "
                     f"{'yes' if op.mapped else 'no':<6}  {'TPU' if op.on_tpu else 'CPU':<7}  {first}".rstrip())
        pad = " " * (4 + 2 + width + 2 + 3 + 2 + 6 + 2 + 7 + 2)
        lines.extend(pad + r for r in rest)
    lines.append("")
    first_unsupported = ("none" if report.first_unsupported_index is None
                         else f"#{report.first_unsupported_index} {report.first_unsupported_op}")
    lines.append(f"Subgraphs: {report.num_subgraphs}   Ops on Edge TPU: {report.tpu_ops}/{report.num_ops} "
                 f"({report.tpu_share:.0%})   First unsupported op: {first_unsupported}")
    lines.append(f"Parameters: {_format_bytes(report.param_bytes)} of ~{_format_bytes(report.param_budget_bytes)} "
                 f"on-chip budget ({'fits' if report.params_fit else 'does NOT fit'})")
    run = report.compiler
    if run is None:
        lines.append(f"Compiler: {report.compiler_note}")
    else:
        state = "compiled" if run.compiled else "FAILED"
        lines.append(f"Compiler: {report.compiler_note}: version {run.version or '?'}, {state}, "
                     f"ops on Edge TPU {run.ops_on_tpu if run.ops_on_tpu is not None else '?'}, "
                     f"on CPU {run.ops_on_cpu if run.ops_on_cpu is not None else '?'}")
        for o in run.operators:
            if not o.on_tpu:
                lines.append(f"  compiler: {o.op} x{o.count}: {o.status}")
        for e in run.errors:
            lines.append(f"  compiler: {e}")
    for w in report.warnings:
        lines.append(f"Warning: {w}")
    if report.compatible:
        lines.append("Result: COMPATIBLE - the whole graph maps to the Edge TPU")
    else:
        lines.append("Result: NOT COMPATIBLE")
        if report.first_unsupported_index is not None:
            op = report.ops[report.first_unsupported_index]
            lines.append(f"  - op #{op.index} {op.op} cannot be mapped; it and the "
                         f"{report.num_ops - op.index - 1} op(s) after it run on the CPU")
        lines.extend(f"  - {i}" for i in report.issues)
    return "\n".join(lines)


def write_report(path: str | os.PathLike[str], out_json: str | os.PathLike[str],
                 compiler: str | os.PathLike[str] | None = "auto") -> EdgeTpuReport:
    """Check ``path`` and write the JSON report to ``out_json`` atomically."""
    report = check_model(path, compiler=compiler)
    out = Path(out_json)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(report.to_json() + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m export.edgetpu",
        description="Check a .tflite model against the Coral Edge TPU requirements "
                    "(exit 0 compatible, 1 not compatible, 2 unreadable input).")
    parser.add_argument("model", help="path to the .tflite model")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--no-compiler", action="store_true",
                       help=f"do not run {COMPILER_NAME} even if it is on PATH")
    group.add_argument("--compiler", metavar="PATH",
                       help=f"run this edgetpu_compiler (default: {COMPILER_NAME} from PATH, if any)")
    args = parser.parse_args(argv)

    compiler: str | None = None if args.no_compiler else (args.compiler or "auto")
    try:
        report = check_model(args.model, compiler=compiler)
    except EdgeTpuCheckError as exc:
        print(f"edgetpu: error: {exc}", file=sys.stderr)
        return 2
    print(report.to_json() if args.json else render_table(report))
    return 0 if report.compatible else 1


if __name__ == "__main__":
    sys.exit(main())
