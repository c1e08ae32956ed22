"""Running an int8 .tflite under TensorFlow Lite for Microcontrollers' own interpreter (the ``tflite-micro`` wheel).

``TFLMRunner(path, spec).logits(uint8 NHWC pixels)`` works like ``TFLiteRunner``; ``smallest_arena`` measures the
tensor arena a microcontroller must reserve; ``unsupported_ops`` names the ops TFLM has no kernel for;
``compare_with_litert`` says how far TFLM's int8 outputs are from LiteRT's with a chosen set of kernels.

TFLM says why it failed only through ``MicroPrintf`` on file descriptor 2, and then raises a bare
``RuntimeError("TFLM failed to allocate tensors")``; this module captures that text and turns it into
this project's errors, each with a one-line message.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np

from data.errors import ArtifactError, CheckFailed, ConfigError, RuntimeUnavailableError
from data.preprocessing import PreprocessSpec

from .runtimes import TFLiteRunner, describe_io

# Below ~480 B the wheel cannot even place its allocator in the arena and dereferences a null pointer
# (the process segfaults), so no arena smaller than this is ever tried.
MIN_ARENA_BYTES = 1024
MAX_ARENA_BYTES = 1 << 30
_MISSING_OP = re.compile(r"Failed to get registration from op code (\w+)")


class TFLMUnsupportedOpsError(CheckFailed):
    """The model uses ops that TFLM has no kernel for: it cannot run on a microcontroller as it is."""


class ArenaTooSmallError(ConfigError):
    """The tensor arena asked for is smaller than the model needs."""


class _NativeFailure(Exception):
    """Internal: TFLM failed for another reason than a missing kernel; the first line of its log.

    Running out of arena shows as dozens of different messages, so none is parsed: a model that runs in a
    large arena and fails in a smaller one has run out of arena."""


class _MissingOp(Exception):
    """Internal: TFLM's registration lookup stopped at this op (it reports only the first one it lacks)."""


def tflm_version() -> str:
    return metadata.version("tflite-micro")


def _runtime():
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError as e:
        raise RuntimeUnavailableError(f"TFLM is not installed ({e}): pip install the pinned tflite-micro") from e
    return runtime


def _read_model(path: Path) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"no model file {path}")
    return path.read_bytes()


def _generous_arena(model: bytes) -> int:
    return max(10 * len(model), 1 << 20)  # TFLM's own default is 10x the model size


class _NativeStderr:
    """Captures what native code writes to file descriptor 2 inside the ``with`` block, in ``.text``."""

    def __enter__(self) -> "_NativeStderr":
        sys.stderr.flush()
        self.sink = tempfile.TemporaryFile()
        self.saved = os.dup(2)
        os.dup2(self.sink.fileno(), 2)
        self.text = ""
        return self

    def __exit__(self, *exc) -> None:
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.sink.seek(0)
        self.text = self.sink.read().decode(errors="replace")
        self.sink.close()


def _first_line(log: str) -> str:
    return next((line.strip() for line in log.splitlines() if line.strip()), "no message")


def _raise_native_failure(log: str, error: Exception):
    """Turn TFLM's log of one failed construction or invoke into the matching exception."""
    missing = _MISSING_OP.search(log)
    if missing:
        raise _MissingOp(missing.group(1))
    raise _NativeFailure(f"{_first_line(log)} ({error})")


def _open(model: bytes, arena_bytes: int, smoke_test: bool = False):
    """A TFLM interpreter with its tensors allocated in ``arena_bytes``; ``smoke_test`` also invokes it once on zeros."""
    runtime = _runtime()
    if arena_bytes < MIN_ARENA_BYTES:
        raise ConfigError(f"a TFLM tensor arena must be at least {MIN_ARENA_BYTES} bytes, got {arena_bytes}")
    with _NativeStderr() as native:
        try:
            interpreter = runtime.Interpreter.from_bytes(model, arena_size=int(arena_bytes))
            if smoke_test:
                detail = interpreter.get_input_details(0)
                interpreter.set_input(np.zeros(detail["shape"], detail["dtype"]), 0)
                interpreter.invoke()
            return interpreter
        except RuntimeError as e:
            failure = e
    _raise_native_failure(native.text, failure)


@functools.lru_cache(maxsize=1)
def _builtin_op_names() -> dict[int, str]:
    _runtime()
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    return {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}


def _op_name(operator_code, names: dict[int, str]) -> str:
    name = names[_runtime().get_builtin_code_from_operator_code(operator_code)]
    if name == "CUSTOM" and operator_code.customCode is not None:
        custom = operator_code.customCode
        return f"CUSTOM:{custom.decode() if isinstance(custom, bytes) else custom}"
    return name


def model_ops(path: Path) -> list[str]:
    """The distinct op names a .tflite uses (custom ops as ``CUSTOM:<name>``), in the model's opcode order."""
    model = _runtime().convert_bytearray_to_object(_read_model(path))
    names = _builtin_op_names()
    return list(dict.fromkeys(_op_name(code, names) for code in model.operatorCodes))


def _relabel_as_add(model: bytes, op_name: str) -> bytes:
    """The model with every opcode called ``op_name`` (or every custom one, for ``CUSTOM``) relabelled ADD.

    TFLM stops at the first op it lacks; relabelling that one lets the next lookup find the next. The result is
    only for that lookup: it does not run."""
    import flatbuffers

    runtime = _runtime()
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    names = _builtin_op_names()
    tree = runtime.convert_bytearray_to_object(model)
    for code in tree.operatorCodes:
        name = _op_name(code, names)
        if name == op_name or (op_name == "CUSTOM" and name.startswith("CUSTOM")):
            code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.ADD
            code.customCode = None
    builder = flatbuffers.Builder(len(model) + 4096)
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def unsupported_ops(path: Path) -> list[str]:
    """Names of the ops in the model that TFLM (this wheel's op resolver) has no kernel for; [] when it has all."""
    path = Path(path)
    model, missing, ops = _read_model(path), [], model_ops(path)
    custom_ops = [op for op in ops if op.startswith("CUSTOM")]
    for _ in range(len(ops) + 1):
        try:
            _open(model, _generous_arena(model))
            break
        except _MissingOp as e:
            missing.extend(custom_ops if e.args[0] == "CUSTOM" else [e.args[0]])
            model = _relabel_as_add(model, e.args[0])
        except _NativeFailure:
            break  # every lookup succeeded; the relabelled ADDs (or the model itself) fail later, which is not our question
    return missing


def _unsupported_ops_error(path: Path) -> TFLMUnsupportedOpsError:
    ops = unsupported_ops(path)
    return TFLMUnsupportedOpsError(f"{Path(path).name} uses op(s) TFLM {tflm_version()} has no kernel for: "
                                   f"{', '.join(ops)}")


def _failure_with_arena(model: bytes, arena_bytes: int) -> str | None:
    """None when TFLM allocates and invokes the model in ``arena_bytes``, else the first line of its log.

    Each try runs in a forked child: on some arenas just too small for a model the wheel logs its failure and
    then crashes the process (SIGSEGV; seen with MobileNetV2 alpha 0.35 at 32 px near 32 KB and 70 KB), where it
    should raise. A crash counts as a failure to fit; a missing kernel is raised as in the parent."""
    _runtime()  # imported once here, not in every child
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one try, its outcome down the pipe, then gone without any cleanup of the parent's
        os.close(read_end)
        try:
            _open(model, arena_bytes, smoke_test=True)
            outcome = "ok:"
        except _MissingOp as e:
            outcome = f"missing:{e.args[0]}"
        except _NativeFailure as e:
            outcome = f"failed:{e}"
        except BaseException as e:  # noqa: BLE001 - reported by the parent, never run past in the child
            outcome = f"failed:{type(e).__name__}: {e}"
        os.write(write_end, outcome.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        kind, _, detail = pipe.read().decode(errors="replace").partition(":")
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return f"TFLM crashed (signal {os.WTERMSIG(status)}) in a {arena_bytes:,}-byte arena"
    if kind == "missing":
        raise _MissingOp(detail)
    return None if kind == "ok" else detail


def smallest_arena(path: Path) -> int:
    """The smallest tensor arena, in bytes, in which TFLM allocates the model's tensors and invokes it (bisection).

    Measured on this 64-bit host with TFLM's reference kernels and its recording allocator: a 32-bit MCU needs a
    little less (pointers and the interpreter's own structures are half the size), but optimized kernels such as
    CMSIS-NN request scratch buffers of their own, so leave headroom there. The arena must be 16-byte aligned.
    Models that fit in ``MIN_ARENA_BYTES`` report that (smaller arenas are never tried)."""
    path = Path(path)
    model = _read_model(path)
    try:
        if _failure_with_arena(model, MIN_ARENA_BYTES) is None:
            return MIN_ARENA_BYTES
        fails, fits = MIN_ARENA_BYTES, _generous_arena(model)
        while (failure := _failure_with_arena(model, fits)) is not None:
            if 2 * fits > MAX_ARENA_BYTES:
                raise ArtifactError(f"TFLM cannot run {path.name} even in a {fits:,}-byte arena: {failure}")
            fails, fits = fits, 2 * fits
        while fits - fails > 1:
            middle = (fails + fits) // 2
            fails, fits = (fails, middle) if _failure_with_arena(model, middle) is None else (middle, fits)
    except _MissingOp:
        raise _unsupported_ops_error(path) from None
    return fits


def _open_explained(path: Path, arena_bytes: int | None = None):
    """(interpreter, arena bytes) for the model file, failures turned into this project's errors: the ops TFLM
    lacks, or the arena size needed. Without ``arena_bytes``, a generous arena."""
    model = _read_model(path)
    arena_bytes = arena_bytes or _generous_arena(model)
    try:
        return _open(model, arena_bytes), arena_bytes
    except _MissingOp:
        raise _unsupported_ops_error(path) from None
    except _NativeFailure as failure:
        needed = smallest_arena(path)  # raises the real reason when no arena is enough
        if needed <= arena_bytes:
            raise ArtifactError(f"TFLM cannot run {path.name}: {failure}") from None
        raise ArenaTooSmallError(f"a TFLM tensor arena of {arena_bytes:,} bytes is too small for {path.name}: "
                                 f"it needs {needed:,} bytes") from None


class TFLMRunner:
    """Runs a .tflite under TFLM's interpreter: ``logits(uint8 NHWC pixels) -> float32 (N, classes)``.

    The input is quantized, and the output dequantized, by TFLiteRunner's own code from the model's own
    parameters (as TFLM reports them), so both runtimes see the same input bytes."""

    name = "tflm"
    quantized_input = TFLiteRunner.quantized_input
    quantize_input = TFLiteRunner.quantize_input
    dequantize = TFLiteRunner.dequantize

    def __init__(self, path: Path, spec: PreprocessSpec, arena_bytes: int | None = None):
        self.path, self.spec = Path(path), spec
        self.interpreter, self.arena_bytes = _open_explained(self.path, arena_bytes)
        self.input = _litert_style_details(self.interpreter.get_input_details(0))
        self.output = _litert_style_details(self.interpreter.get_output_details(0))
        expected = (1, spec.input_size, spec.input_size, 3)
        if tuple(self.input["shape"]) != expected:
            raise ArtifactError(f"{path} takes input {tuple(self.input['shape'])}, the preprocessing spec says {expected}")

    def raw_outputs(self, model_inputs: np.ndarray) -> np.ndarray:
        """Already quantized (N, H, W, 3) inputs -> the output tensor as the model produces it (N, classes)."""
        outs = []
        for image in model_inputs:
            self.interpreter.set_input(image[None], 0)
            self.interpreter.invoke()
            outs.append(self.interpreter.get_output(0))
        return np.concatenate(outs)

    def logits(self, pixels: np.ndarray) -> np.ndarray:
        return self.dequantize(self.raw_outputs(self.quantize_input(pixels)), self.output)


def _litert_style_details(detail: dict) -> dict:
    """TFLM's tensor details in the ``{"dtype", "shape", "quantization": (scale, zero_point)}`` form TFLiteRunner uses."""
    params = detail["quantization_parameters"]
    scales, zero_points = params["scales"], params["zero_points"]
    quantization = (float(scales[0]), int(zero_points[0])) if len(scales) else (0.0, 0)
    return {"dtype": np.dtype(detail["dtype"]).type, "shape": np.asarray(detail["shape"]), "quantization": quantization}


def output_agreement(expected: np.ndarray, actual: np.ndarray, step: float = 1.0) -> dict:
    """How far two runtimes' outputs of the same int8 model are apart, per image.

    ``expected``/``actual``: (N, classes) raw int8 outputs (``step`` 1), or both dequantized with the model's output
    scale as ``step``. ``exact_match_rate``: share of images whose whole output vectors are equal;
    ``max_abs_diff_steps``: the largest difference in quantization steps; ``top1_agreement``: share of images with
    the same arg-max."""
    steps = np.rint(np.abs(expected.astype(np.float64) - actual.astype(np.float64)) / step).astype(np.int64)
    return {
        "images": len(expected),
        "exact_match_rate": float((expected == actual).all(axis=1).mean()),
        "max_abs_diff_steps": int(steps.max()) if steps.size else 0,
        "top1_agreement": float((expected.argmax(1) == actual.argmax(1)).mean()),
    }


def compare_with_litert(path: Path, pixels: np.ndarray, op_resolver: str = "builtin_ref",
                        spec: PreprocessSpec | None = None) -> dict:
    """TFLM's raw int8 outputs vs LiteRT's with ``op_resolver`` kernels on the same input bytes (``output_agreement``)."""
    spec = spec or PreprocessSpec(input_size=int(pixels.shape[1]))
    litert = TFLiteRunner(path, spec, op_resolver=op_resolver)
    tflm = TFLMRunner(path, spec)
    model_inputs = litert.quantize_input(pixels)
    expected, actual = litert.raw_outputs(model_inputs), tflm.raw_outputs(model_inputs)
    if not np.issubdtype(expected.dtype, np.integer):
        raise ArtifactError(f"{Path(path).name} has {expected.dtype} outputs: only quantized models compare in steps")
    return {"litert_op_resolver": op_resolver, **output_agreement(expected, actual)}


def io_quantization(path: Path) -> dict:
    """``{"input": ..., "output": ...}``, each ``{"dtype", "shape", "scale", "zero_point"}`` as TFLM reads the model."""
    interpreter, _ = _open_explained(Path(path))
    return {"input": describe_io(_litert_style_details(interpreter.get_input_details(0))),
            "output": describe_io(_litert_style_details(interpreter.get_output_details(0)))}
