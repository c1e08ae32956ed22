"""Reading a ``.tflite`` flatbuffer into plain views of its main subgraph.

Uses the flatbuffer schema module that ships with ``ai_edge_litert`` (or
TensorFlow). ``read_model`` is the project's one TFLite flatbuffer reader.
"""

from __future__ import annotations

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
