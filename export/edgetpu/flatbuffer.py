"""Reading a ``.tflite`` flatbuffer into plain views of its main subgraph.

``read_model`` is the project's one TFLite flatbuffer reader. It uses the lazy
accessors of the flatbuffer schema module that ships with ``ai_edge_litert``
(or TensorFlow) and reads only what the checks need. The file is untrusted
(the checker runs on user files), so:

* every index (opcode, tensor, buffer) is checked before it is used;
* the flatbuffers library's own exceptions on bad offsets become
  ``InvalidModelError`` naming the file;
* the number of entries decoded is capped by the file size. FlatBuffers lets
  many offsets point at one shared table or vector, so without the cap a file
  of a few kilobytes could unpack into billions of entries and never finish.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

try:  # ai_edge_litert imports in ~0.2 s; the TensorFlow copy pulls in all of TF.
    from ai_edge_litert import schema_py_generated as schema
except ImportError:  # pragma: no cover - fallback for environments without LiteRT
    from tensorflow.lite.python import schema_py_generated as schema

from .errors import InvalidModelError, ModelNotFoundError

TFLITE_IDENTIFIER = b"TFL3"

# What the flatbuffers library raises on offsets that point outside the file:
# struct.error / IndexError for reads past the end, ValueError from
# numpy.frombuffer, TypeError from its number-range checks.
_LIBRARY_ERRORS = (struct.error, IndexError, ValueError, TypeError, OverflowError)

_OP_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
_TYPE_NAMES = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
_NUMPY_DTYPES = {
    "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16,
    "int32": np.int32, "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64,
    "float16": np.float16, "float32": np.float32, "float64": np.float64, "bool": np.bool_,
}
# Builtin options decoded into objects: the ones the limitation checks and
# explain/tflite_cam.py read. All of them hold scalars only, so decoding them
# costs the same whatever their offsets point at; other options stay None.
_DECODED_OPTIONS = frozenset(getattr(schema.BuiltinOptions, name) for name in (
    "Conv2DOptions", "DepthwiseConv2DOptions", "Pool2DOptions", "FullyConnectedOptions",
    "ConcatenationOptions", "ReducerOptions", "PackOptions", "StridedSliceOptions",
    "AddOptions", "SubOptions", "MulOptions",
))


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
class _ParsedModel:
    num_subgraphs: int
    tensors: list[_Tensor]
    ops: list[tuple[str, int, str | None, Any, list[int], list[int]]]  # name, version, custom, options, in, out
    inputs: list[int]
    outputs: list[int]
    param_bytes: int


def read_model(path: Path) -> tuple[bytes, _ParsedModel]:
    """Read and parse ``path``: (file bytes, parsed main subgraph); raises ``InvalidModelError``."""
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
    except _LIBRARY_ERRORS as exc:
        raise InvalidModelError(
            f"{path} is truncated or corrupt: cannot parse the TFLite flatbuffer "
            f"({type(exc).__name__}: {exc})") from None


class _EntryBudget:
    """How many more entries (tables, vector elements, name bytes) the file may still yield.

    A well-formed file stores each entry once, in at least one byte, so it never
    needs more entries than it has bytes; four times that leaves room for any
    legitimate sharing.
    """

    def __init__(self, file_size: int):
        self.left = 4 * file_size + 4096

    def take(self, count: int, what: str) -> int:
        if count < 0 or count > self.left:
            raise InvalidModelError(
                f"{what}: {count} entries, more than a file of this size can hold (corrupt lengths or offsets)")
        self.left -= count
        return count

    def range(self, count: int, what: str) -> range:
        return range(self.take(count, what))


def _required(table: Any, what: str) -> Any:
    if table is None:
        raise InvalidModelError(f"{what} is missing")
    return table


def _numbers(values: Any, budget: _EntryBudget, what: str) -> np.ndarray:
    """A numeric vector read with ``...AsNumpy()`` (which returns 0 when the field is absent)."""
    if isinstance(values, int):
        return np.zeros(0, dtype=np.int64)
    budget.take(int(values.size), what)
    return values


def _ints(values: Any, budget: _EntryBudget, what: str) -> list[int]:
    return [int(v) for v in _numbers(values, budget, what)]


def _text(value: bytes | None, budget: _EntryBudget, what: str) -> str:
    if value is None:
        return ""
    budget.take(len(value), what)
    return value.decode("utf-8", "replace")


def _indices(values: Any, count: int, budget: _EntryBudget, what: str, optional: bool) -> list[int]:
    """Tensor indices, each in range (``-1`` marks an omitted optional tensor where ``optional``)."""
    indices = _ints(values, budget, what)
    for i in indices:
        if not (0 <= i < count or (optional and i == -1)):
            raise InvalidModelError(f"{what} refers to missing tensor {i}")
    return indices


class _Buffers:
    """The model's constant buffers, each read on first use (buffer 0 is the empty sentinel)."""

    def __init__(self, model: Any, data: bytes, budget: _EntryBudget):
        self._model, self._data = model, data
        self.count = budget.take(model.BuffersLength(), "buffers")
        self._read: dict[int, np.ndarray | None] = {}

    def bytes_of(self, index: int) -> np.ndarray | None:
        """Raw bytes (a uint8 view, no copy) of buffer ``index``, or None when it is empty."""
        if index <= 0:
            return None
        if index >= self.count:
            raise InvalidModelError(f"tensor refers to missing buffer {index}")
        if index not in self._read:
            self._read[index] = self._bytes(_required(self._model.Buffers(index), f"buffer {index}"))
        return self._read[index]

    def _bytes(self, buf: Any) -> np.ndarray | None:
        offset, size = int(buf.Offset()), int(buf.Size())
        if offset > 1:  # >2 GB models keep their data after the flatbuffer
            if offset + size > len(self._data):
                raise InvalidModelError("buffer data lies beyond the end of the file (truncated?)")
            return np.frombuffer(self._data, dtype=np.uint8, count=size, offset=offset) if size else None
        raw = buf.DataAsNumpy()
        return None if isinstance(raw, int) or raw.size == 0 else raw


def _decode_values(raw: np.ndarray | None, dtype: str, shape: list[int]) -> np.ndarray | None:
    if raw is None or dtype not in _NUMPY_DTYPES:
        return None
    numpy_dtype = np.dtype(_NUMPY_DTYPES[dtype])
    if raw.size % numpy_dtype.itemsize:
        return None
    values = raw.view(numpy_dtype)
    if shape and values.size == math.prod(shape):
        values = values.reshape(shape)
    return values


def _read_tensor(index: int, t: Any, buffers: _Buffers, budget: _EntryBudget) -> _Tensor:
    dtype = _TYPE_NAMES.get(t.Type(), f"type{t.Type()}")
    raw = None if t.IsVariable() else buffers.bytes_of(t.Buffer())
    shape = _ints(t.ShapeAsNumpy(), budget, f"tensor {index} shape")
    signature = shape if t.ShapeSignatureIsNone() else _ints(
        t.ShapeSignatureAsNumpy(), budget, f"tensor {index} shape signature")
    q = t.Quantization()
    return _Tensor(
        index=index,
        name=_text(t.Name(), budget, f"tensor {index} name"),
        dtype=dtype,
        shape=shape,
        signature=signature,
        is_const=raw is not None,
        scale=[] if q is None else [float(s) for s in _numbers(q.ScaleAsNumpy(), budget, "quantization scales")],
        zero_point=[] if q is None else _ints(q.ZeroPointAsNumpy(), budget, "quantization zero points"),
        quantized_dimension=int(q.QuantizedDimension()) if q is not None else 0,
        values=_decode_values(raw, dtype, shape),
    )


def _read_opcodes(model: Any, budget: _EntryBudget) -> list[tuple[str, int, str | None]]:
    opcodes = []
    for i in budget.range(model.OperatorCodesLength(), "operator codes"):
        oc = _required(model.OperatorCodes(i), f"operator code {i}")
        # Opcodes >= 127 only live in builtin_code; old files only set the
        # deprecated int8 field. TFLite itself takes the max of the two.
        code = max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode()))
        custom = None
        if code == schema.BuiltinOperator.CUSTOM:
            custom = _text(oc.CustomCode(), budget, f"operator code {i} custom name")
        opcodes.append((_OP_NAMES.get(code, f"BUILTIN_{code}"), int(oc.Version() or 1), custom))
    return opcodes


def _read_options(op: Any) -> Any:
    kind = op.BuiltinOptionsType()
    if kind not in _DECODED_OPTIONS:
        return None
    return schema.BuiltinOptionsCreator(kind, op.BuiltinOptions())


def _read_operators(subgraph: Any, opcodes: list, num_tensors: int, budget: _EntryBudget) -> list:
    ops = []
    for i in budget.range(subgraph.OperatorsLength(), "operators"):
        op = _required(subgraph.Operators(i), f"operator {i}")
        if not 0 <= op.OpcodeIndex() < len(opcodes):
            raise InvalidModelError(f"operator refers to missing opcode {op.OpcodeIndex()}")
        name, version, custom = opcodes[op.OpcodeIndex()]
        ins = _indices(op.InputsAsNumpy(), num_tensors, budget, f"operator #{i} ({name}) input", optional=True)
        outs = _indices(op.OutputsAsNumpy(), num_tensors, budget, f"operator #{i} ({name}) output", optional=True)
        ops.append((name, version, custom, _read_options(op), ins, outs))
    return ops


def _param_bytes(subgraphs: list, buffers: _Buffers, budget: _EntryBudget) -> int:
    """Bytes of every distinct constant buffer that a tensor of any subgraph refers to."""
    sizes: dict[int, int] = {}
    for s, subgraph in enumerate(subgraphs):
        for i in budget.range(subgraph.TensorsLength(), f"subgraph {s} tensors"):
            index = _required(subgraph.Tensors(i), f"subgraph {s} tensor {i}").Buffer()
            if index not in sizes:
                raw = buffers.bytes_of(index)
                sizes[index] = 0 if raw is None else raw.size
    return sum(sizes.values())


def _parse(data: bytes) -> _ParsedModel:
    budget = _EntryBudget(len(data))
    model = schema.Model.GetRootAs(data, 0)
    subgraphs = [_required(model.Subgraphs(i), f"subgraph {i}")
                 for i in budget.range(model.SubgraphsLength(), "subgraphs")]
    if not subgraphs:
        raise InvalidModelError("the model has no subgraphs")
    buffers = _Buffers(model, data, budget)
    opcodes = _read_opcodes(model, budget)
    main = subgraphs[0]
    tensors = [_read_tensor(i, _required(main.Tensors(i), f"tensor {i}"), buffers, budget)
               for i in budget.range(main.TensorsLength(), "tensors")]
    return _ParsedModel(
        num_subgraphs=len(subgraphs),
        tensors=tensors,
        ops=_read_operators(main, opcodes, len(tensors), budget),
        inputs=_indices(main.InputsAsNumpy(), len(tensors), budget, "subgraph input", optional=False),
        outputs=_indices(main.OutputsAsNumpy(), len(tensors), budget, "subgraph output", optional=False),
        param_bytes=_param_bytes(subgraphs, buffers, budget),
    )
