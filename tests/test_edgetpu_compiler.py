"""Tests for export/edgetpu/compiler.py: parsing edgetpu_compiler output and running it (a stand-in script).

The model handed to the stand-in compiler is a one-op int8 flatbuffer built
here with the schema's object API, so these tests need no TensorFlow.
"""

from __future__ import annotations

import os
import stat
import textwrap
from pathlib import Path

import flatbuffers
import numpy as np
import pytest

from export.edgetpu import check_model, main, parse_compiler_output, schema

INT8_OPS = ["CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED"]  # the ops of the logs below


def _tensor(name: str, shape: list[int], dtype: int, buffer: int = 0, scale: float = 0.05):
    t = schema.TensorT()
    t.name, t.shape, t.type, t.buffer = name.encode(), np.array(shape, np.int32), dtype, buffer
    t.quantization = schema.QuantizationParametersT()
    t.quantization.scale = np.array([scale], np.float32)
    t.quantization.zeroPoint = np.array([0], np.int64)
    return t


def _buffer(data: np.ndarray | None = None):
    buf = schema.BufferT()
    buf.data = None if data is None else data.view(np.uint8).reshape(-1)
    return buf


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory) -> Path:
    """One int8 CONV_2D (3x3, 3 -> 4 channels) on a 1x8x8x3 input: fully Edge TPU-mappable."""
    int8, int32 = schema.TensorType.INT8, schema.TensorType.INT32
    sg = schema.SubGraphT()
    sg.tensors = [_tensor("input", [1, 8, 8, 3], int8), _tensor("weights", [4, 3, 3, 3], int8, buffer=1),
                  _tensor("bias", [4], int32, buffer=2, scale=0.0025), _tensor("output", [1, 8, 8, 4], int8)]
    sg.inputs, sg.outputs = np.array([0], np.int32), np.array([3], np.int32)
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, np.array([0, 1, 2], np.int32), np.array([3], np.int32)
    op.builtinOptionsType = schema.BuiltinOptions.Conv2DOptions
    op.builtinOptions = schema.Conv2DOptionsT()
    op.builtinOptions.strideW = op.builtinOptions.strideH = 1
    sg.operators = [op]
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CONV_2D
    code.version = 3
    model = schema.ModelT()
    model.version, model.operatorCodes, model.subgraphs = 3, [code], [sg]
    model.buffers = [_buffer(), _buffer(np.ones(4 * 27, np.int8)), _buffer(np.zeros(4, np.int32))]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path = tmp_path_factory.mktemp("edgetpu_compiler") / "int8.tflite"
    path.write_bytes(bytes(builder.Output()))
    return path


def test_handmade_model_maps(int8_model):
    report = check_model(int8_model, compiler=None)
    assert [op.op for op in report.ops] == ["CONV_2D"] and report.compatible and report.tpu_ops == 1


def test_missing_explicit_compiler_exit_2(int8_model, tmp_path, capsys):
    assert main([str(int8_model), "--compiler", str(tmp_path / "nope")]) == 2
    assert "compiler not found" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# Compiler log parsing and the subprocess path
# ---------------------------------------------------------------------------

# Format as printed by edgetpu_compiler 16 (cf. google-coral/edgetpu #490, #671).
LOG_PARTIAL = textwrap.dedent("""\
    Edge TPU Compiler version 16.0.384591198
    Started a compilation timeout timer of 180 seconds.

    Model compiled successfully in 1354 ms.

    Input model: detector.tflite
    Input size: 4.17MiB
    Output model: detector_edgetpu.tflite
    Output size: 4.75MiB
    On-chip memory used for caching model parameters: 3.21MiB
    On-chip memory remaining for caching model parameters: 3.78MiB
    Off-chip memory used for streaming uncached model parameters: 0.00B
    Number of Edge TPU subgraphs: 1
    Total number of operations: 267
    Operation log: detector_edgetpu.log

    Model successfully compiled but not all operations are supported by the Edge TPU. A percentage of the model will instead run on the CPU, which is slower. If possible, consider updating your model to use only operations supported by the Edge TPU. For details, visit g.co/coral/model-reqs.
    Number of operations that will run on Edge TPU: 261
    Number of operations that will run on CPU: 6

    Operator                       Count      Status

    DEQUANTIZE                     2          Operation is working on an unsupported data type
    DEPTHWISE_CONV_2D              80         Mapped to Edge TPU
    LOGISTIC                       1          Operation is otherwise supported, but not mapped due to some unspecified limitation
    CONCATENATION                  1          Mapped to Edge TPU
    CONCATENATION                  1          More than one subgraph is not supported
    CONV_2D                        180        Mapped to Edge TPU
    CUSTOM                         2          Operation is working on an unsupported data type
    Compilation child process completed within timeout period.
    Compilation succeeded!
    """)

LOG_ALL_MAPPED = textwrap.dedent("""\
    Edge TPU Compiler version 16.0.384591198
    Started a compilation timeout timer of 180 seconds.

    Model compiled successfully in 212 ms.

    Input model: MODEL
    Input size: 3.32KiB
    Output model: MODEL_edgetpu.tflite
    Output size: 61.20KiB
    On-chip memory used for caching model parameters: 1.50KiB
    On-chip memory remaining for caching model parameters: 7.01MiB
    Off-chip memory used for streaming uncached model parameters: 0.00B
    Number of Edge TPU subgraphs: 1
    Total number of operations: 5
    Operation log: MODEL_edgetpu.log

    Operator                       Count      Status

    CONV_2D                        1          Mapped to Edge TPU
    DEPTHWISE_CONV_2D              1          Mapped to Edge TPU
    ADD                            1          Mapped to Edge TPU
    MEAN                           1          Mapped to Edge TPU
    FULLY_CONNECTED                1          Mapped to Edge TPU
    Compilation child process completed within timeout period.
    Compilation succeeded!
    """)

LOG_FAILED = textwrap.dedent("""\
    Edge TPU Compiler version 16.0.384591198
    ERROR: Didn't find op for builtin opcode 'CONV_2D' version '6'. An older version of this builtin might be supported. Are you using an old TFLite binary with a newer model?

    ERROR: Registration failed.

    Invalid model: model.tflite
    Model could not be parsed
    """)


def test_parse_compiler_output_partial():
    p = parse_compiler_output(LOG_PARTIAL)
    assert p["compiled"] and p["version"] == "16.0.384591198"
    assert (p["total_ops"], p["ops_on_tpu"], p["ops_on_cpu"], p["tpu_subgraphs"]) == (267, 261, 6, 1)
    assert p["on_chip_memory_used"] == "3.21MiB" and p["off_chip_memory_used"] == "0.00B"
    ops = p["operators"]
    assert len(ops) == 7
    assert (ops[0].op, ops[0].count, ops[0].status) == (
        "DEQUANTIZE", 2, "Operation is working on an unsupported data type")
    assert [o.on_tpu for o in ops] == [False, True, False, True, False, True, False]
    assert sum(o.count for o in ops) == 267


def test_parse_compiler_output_all_mapped_derives_counts():
    p = parse_compiler_output(LOG_ALL_MAPPED)
    assert p["compiled"] and p["total_ops"] == 5
    assert (p["ops_on_tpu"], p["ops_on_cpu"]) == (5, 0)  # not printed when everything maps
    assert [o.op for o in p["operators"]] == INT8_OPS


def test_parse_compiler_output_failure():
    p = parse_compiler_output(LOG_FAILED)
    assert not p["compiled"] and p["ops_on_cpu"] is None and p["operators"] == []
    assert any("Didn't find op for builtin opcode 'CONV_2D' version '6'" in e for e in p["errors"])
    assert any("Model could not be parsed" in e for e in p["errors"])


def _fake_compiler(directory: Path, stdout: str, exit_code: int = 0) -> Path:
    """A stand-in edgetpu_compiler: prints ``stdout`` and writes the .log to -o DIR."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "stdout.txt").write_text(stdout)
    script = directory / "edgetpu_compiler"
    script.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        out=.
        while [ $# -gt 1 ]; do
          case "$1" in
            -o|--out_dir) out="$2"; shift 2 ;;
            *) shift ;;
          esac
        done
        name=$(basename "$1" .tflite)
        cat "{directory / 'stdout.txt'}"
        cp "{directory / 'stdout.txt'}" "$out/${{name}}_edgetpu.log"
        exit {exit_code}
        """))
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def test_fake_compiler_on_path_all_mapped(int8_model, tmp_path, monkeypatch, capsys):
    fake = _fake_compiler(tmp_path / "bin", LOG_ALL_MAPPED)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    report = check_model(int8_model)  # auto: found on PATH
    run = report.compiler
    assert run is not None and run.compiled and run.ok and run.returncode == 0
    assert run.command[0] == str(fake) and run.command[-1] == str(int8_model)
    assert "Edge TPU Compiler version 16.0.384591198" in run.log
    assert "int8_edgetpu.log" in run.log  # the operation log file was picked up
    assert (run.ops_on_tpu, run.ops_on_cpu) == (5, 0)
    assert report.compatible
    assert main([str(int8_model)]) == 0
    assert "Compiler: ran" in capsys.readouterr().out
    # --no-compiler skips it even though it is on PATH
    assert check_model(int8_model, compiler=None).compiler is None


def test_fake_compiler_puts_ops_on_cpu(int8_model, tmp_path, capsys):
    fake = _fake_compiler(tmp_path / "bin", LOG_PARTIAL)
    report = check_model(int8_model, compiler=str(fake))
    assert report.graph_maps  # the static check is happy...
    assert not report.compatible  # ...but the compiler has the last word
    assert report.compiler.ops_on_cpu == 6
    assert any("CPU" in i for i in report.issues)
    assert any("trust the compiler" in w for w in report.warnings)
    assert main([str(int8_model), "--compiler", str(fake)]) == 1
    assert "Operation is working on an unsupported data type" in capsys.readouterr().out


def test_fake_compiler_failure(int8_model, tmp_path):
    fake = _fake_compiler(tmp_path / "bin", LOG_FAILED, exit_code=1)
    report = check_model(int8_model, compiler=str(fake))
    assert not report.compiler.compiled and not report.compiler.ok
    assert report.compiler.returncode == 1
    assert not report.compatible
    assert any("edgetpu_compiler failed" in i and "Didn't find op" in i for i in report.issues)

