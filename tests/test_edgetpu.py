"""Tests for export/edgetpu/: the static Edge TPU check and the compiler-log parser.

Tiny models are built once per module with TensorFlow (a few seconds); the
variants that TensorFlow will not produce on request (too-new op versions,
opcodes >= 127, old-style opcodes, two subgraphs, oversized parameters, op
limitations) are made by editing the int8 model with the flatbuffer object API.
"""

from __future__ import annotations

import json
import os
import stat
import textwrap
from pathlib import Path

import flatbuffers
import numpy as np
import pytest

from export import edgetpu
from export.edgetpu import (
    EDGETPU_OPS,
    TFLITE_2_5_MAX_VERSION,
    InvalidModelError,
    ModelNotFoundError,
    check_model,
    main,
    parse_compiler_output,
    render_table,
    schema,
    write_report,
)

pytestmark = pytest.mark.filterwarnings("ignore:Statistics for quantized inputs:UserWarning")

INT8_OPS = ["CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED"]


# ---------------------------------------------------------------------------
# Model fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """conv -> depthwise conv -> add -> mean -> dense, in several conversions."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf = pytest.importorskip("tensorflow")
    out = tmp_path_factory.mktemp("edgetpu_models")

    def build(batch: int | None = 1, middle: str | None = None):
        inp = tf.keras.Input(shape=(16, 16, 3), batch_size=batch)
        x = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
        if middle == "leaky_relu":  # int8 builtin op that is not on the Edge TPU list
            x = tf.keras.layers.LeakyReLU(0.1)(x)
        elif middle == "sin":  # no int8 kernel: stays float between DEQUANTIZE/QUANTIZE
            x = tf.keras.layers.Lambda(tf.math.sin)(x)
        y = tf.keras.layers.DepthwiseConv2D(3, padding="same")(x)
        x = tf.keras.layers.Add()([x, y])
        x = tf.keras.layers.GlobalAveragePooling2D()(x)
        return tf.keras.Model(inp, tf.keras.layers.Dense(4)(x))

    def convert(model, int8: bool = True, allow_float_ops: bool = False) -> bytes:
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        if int8:
            rng = np.random.default_rng(0)
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = lambda: (
                [rng.random((1, 16, 16, 3), dtype=np.float32)] for _ in range(8))
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8] + (
                [tf.lite.OpsSet.TFLITE_BUILTINS] if allow_float_ops else [])
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
        return conv.convert()

    variants = {
        "int8": convert(build()),
        "float": convert(build(), int8=False),
        "dynamic": convert(build(batch=None)),
        "leaky_relu": convert(build(middle="leaky_relu")),
        "sin": convert(build(middle="sin"), allow_float_ops=True),
    }
    paths = {}
    for name, data in variants.items():
        paths[name] = out / f"{name}.tflite"
        paths[name].write_bytes(data)
    return paths


def _load(path: Path):
    return schema.ModelT.InitFromObj(schema.Model.GetRootAs(path.read_bytes(), 0))


def _save(model, path: Path) -> Path:
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(bytes(builder.Output()))
    return path


def _opcode_of(model, op_name: str):
    code = getattr(schema.BuiltinOperator, op_name)
    return next(oc for oc in model.operatorCodes
                if max(oc.builtinCode, oc.deprecatedBuiltinCode) == code)


def _op_of(model, op_name: str):
    code = getattr(schema.BuiltinOperator, op_name)
    sg = model.subgraphs[0]
    for op in sg.operators:
        oc = model.operatorCodes[op.opcodeIndex]
        if max(oc.builtinCode, oc.deprecatedBuiltinCode) == code:
            return op
    raise LookupError(op_name)


# ---------------------------------------------------------------------------
# TensorFlow-built models
# ---------------------------------------------------------------------------


def test_int8_model_maps_entirely(models):
    report = check_model(models["int8"], compiler=None)
    assert [op.op for op in report.ops] == INT8_OPS
    assert all(op.mapped and op.on_tpu and not op.reasons for op in report.ops), render_table(report)
    assert report.first_unsupported_index is None and report.first_unsupported_op is None
    assert (report.tpu_ops, report.num_ops, report.tpu_share) == (5, 5, 1.0)
    assert report.num_subgraphs == 1
    assert report.graph_maps and report.compatible and report.params_fit
    assert report.issues == []
    assert 0 < report.param_bytes < 10_000
    assert report.compiler is None and "disabled" in report.compiler_note
    (inp,), (out,) = report.inputs, report.outputs
    assert (inp.dtype, inp.shape, inp.shape_signature) == ("int8", [1, 16, 16, 3], [1, 16, 16, 3])
    assert len(inp.scale) == 1 and inp.scale[0] > 0
    assert len(inp.zero_point) == 1 and -128 <= inp.zero_point[0] <= 127
    assert (out.dtype, out.shape) == ("int8", [1, 4]) and out.scale[0] > 0
    versions = {op.op: op.version for op in report.ops}
    assert all(versions[n] <= EDGETPU_OPS[n].max_version for n in INT8_OPS)


def test_cli_int8_exit_0_table_and_json(models, capsys):
    assert main([str(models["int8"]), "--no-compiler"]) == 0
    table = capsys.readouterr().out
    assert "Result: COMPATIBLE" in table
    assert "DEPTHWISE_CONV_2D" in table and "5/5 (100%)" in table
    assert "scale=" in table and "zero_point=" in table

    assert main([str(models["int8"]), "--no-compiler", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["compatible"] is True and data["first_unsupported_index"] is None
    assert [op["op"] for op in data["ops"]] == INT8_OPS
    assert all(op["on_tpu"] for op in data["ops"])
    assert data["inputs"][0]["dtype"] == "int8" and len(data["inputs"][0]["scale"]) == 1


def test_float_model_is_not_compatible(models, capsys):
    report = check_model(models["float"], compiler=None)
    assert not report.compatible and not report.graph_maps
    assert report.tpu_ops == 0 and report.first_unsupported_index == 0
    assert all(not op.mapped and not op.on_tpu for op in report.ops)
    input_name = report.inputs[0].name
    assert report.inputs[0].dtype == "float32" and report.inputs[0].scale == []
    assert f"tensor {input_name} is float32" in report.ops[0].reasons
    assert any("(constant)" in r for r in report.ops[0].reasons)  # float weights named too
    assert any(i.startswith("Model not quantized") for i in report.issues)
    assert main([str(models["float"]), "--no-compiler"]) == 1
    assert "NOT COMPATIBLE" in capsys.readouterr().out


def test_dynamic_batch_reports_dynamic_shape(models):
    report = check_model(models["dynamic"], compiler=None)
    assert report.inputs[0].shape_signature[0] == -1
    assert any(r.startswith("dynamic shape") for r in report.ops[0].reasons)
    assert any("dynamic shape" in i for i in report.issues)
    assert not report.compatible and report.first_unsupported_index == 0


def test_unsupported_int8_op_in_the_middle_partitions(models, capsys):
    report = check_model(models["leaky_relu"], compiler=None)
    names = [op.op for op in report.ops]
    idx = names.index("LEAKY_RELU")
    assert 0 < idx < len(names) - 1
    assert report.first_unsupported_index == idx and report.first_unsupported_op == "LEAKY_RELU"
    assert any(r.startswith("unsupported op") for r in report.ops[idx].reasons)
    assert all(op.on_tpu for op in report.ops[:idx])
    later = report.ops[idx + 1:]
    assert later and all(op.mapped and not op.on_tpu for op in later)  # mappable, but after the cut
    assert report.tpu_ops == idx and report.tpu_share == pytest.approx(idx / len(names))
    assert not report.compatible
    assert main([str(models["leaky_relu"]), "--no-compiler"]) == 1
    assert f"First unsupported op: #{idx} LEAKY_RELU" in capsys.readouterr().out


def test_float_island_in_int8_model(models):
    report = check_model(models["sin"], compiler=None)
    names = [op.op for op in report.ops]
    sin = report.ops[names.index("SIN")]
    assert any(r.startswith("unsupported op") for r in sin.reasons)
    assert any("is float32" in r for r in sin.reasons)
    first = report.first_unsupported_index
    assert report.ops[first].op in ("DEQUANTIZE", "SIN") and first <= sin.index
    assert all(op.on_tpu for op in report.ops[:first])
    assert all(not op.on_tpu for op in report.ops[first:])


# ---------------------------------------------------------------------------
# Edited flatbuffers
# ---------------------------------------------------------------------------


def test_op_version_newer_than_compiler_blocks_whole_model(models, tmp_path):
    model = _load(models["int8"])
    _opcode_of(model, "CONV_2D").version = 6  # TF 2.9+; compiler 16 fails on it (coral #631)
    report = check_model(_save(model, tmp_path / "v6.tflite"), compiler=None)
    assert "op version 6 newer than compiler 16 knows (max 5)" in report.ops[0].reasons
    assert any("cannot parse" in i for i in report.issues)
    assert report.tpu_ops == 0 and not report.compatible  # the compiler rejects the file outright


def test_too_new_version_of_a_cpu_op_also_blocks(models, tmp_path):
    model = _load(models["leaky_relu"])
    _opcode_of(model, "LEAKY_RELU").version = 3  # TFLite 2.5 knows LEAKY_RELU up to v2
    report = check_model(_save(model, tmp_path / "leaky_v3.tflite"), compiler=None)
    leaky = next(op for op in report.ops if op.op == "LEAKY_RELU")
    assert "op version 3 newer than compiler 16 knows (max 2)" in leaky.reasons
    assert report.tpu_ops == 0 and any("cannot parse" in i for i in report.issues)


def test_deprecated_and_extended_builtin_codes(models, tmp_path):
    model = _load(models["int8"])
    # Old-style file: only deprecated_builtin_code is set.
    add = _opcode_of(model, "ADD")
    add.builtinCode, add.deprecatedBuiltinCode = 0, schema.BuiltinOperator.ADD
    conv = _opcode_of(model, "CONV_2D")
    conv.builtinCode, conv.deprecatedBuiltinCode = 0, schema.BuiltinOperator.CONV_2D
    # Opcode >= 127 lives only in builtin_code (deprecated holds the placeholder 127).
    mean = _opcode_of(model, "MEAN")
    mean.builtinCode = schema.BuiltinOperator.GELU
    mean.deprecatedBuiltinCode = schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES
    report = check_model(_save(model, tmp_path / "codes.tflite"), compiler=None)
    assert [op.op for op in report.ops] == ["CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "GELU", "FULLY_CONNECTED"]
    assert report.ops[0].mapped and report.ops[2].mapped
    gelu = report.ops[3]
    assert not gelu.mapped and any("unknown to compiler 16" in r for r in gelu.reasons)
    assert report.first_unsupported_index == 3


def test_custom_op_is_flagged(models, tmp_path):
    model = _load(models["int8"])
    mean = _opcode_of(model, "MEAN")
    mean.builtinCode = mean.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    mean.customCode = b"FlexMean"
    report = check_model(_save(model, tmp_path / "flex.tflite"), compiler=None)
    op = report.ops[3]
    assert op.op == "CUSTOM" and op.custom_code == "FlexMean"
    assert any(r.startswith("Flex/custom op") for r in op.reasons)
    assert report.first_unsupported_index == 3


def test_op_limitations(models, tmp_path):
    model = _load(models["int8"])
    _op_of(model, "CONV_2D").builtinOptions.dilationHFactor = 2  # x/y dilation differ
    mean = _op_of(model, "MEAN")
    axes = model.subgraphs[0].tensors[mean.inputs[1]]
    model.buffers[axes.buffer].data = np.array([0, 1], dtype=np.int32).view(np.uint8)
    report = check_model(_save(model, tmp_path / "limits.tflite"), compiler=None)
    assert any("equal x/y dilation" in r for r in report.ops[0].reasons)
    assert any("batch dimension" in r for r in report.ops[3].reasons)
    assert report.first_unsupported_index == 0 and report.tpu_ops == 0


def test_two_subgraphs_not_compatible(models, tmp_path):
    model = _load(models["int8"])
    model.subgraphs.append(model.subgraphs[0])
    report = check_model(_save(model, tmp_path / "two.tflite"), compiler=None)
    assert report.num_subgraphs == 2
    assert report.graph_maps and not report.compatible
    assert any("2 subgraphs" in i for i in report.issues)


def test_parameters_over_budget(models, tmp_path):
    model = _load(models["int8"])
    big = schema.BufferT()
    big.data = np.zeros(edgetpu.PARAM_BUDGET_BYTES + 1024, dtype=np.uint8)
    model.buffers.append(big)
    t = schema.TensorT()
    t.name, t.type, t.shape = b"big_weights", schema.TensorType.INT8, np.array([len(big.data)], np.int32)
    t.buffer = len(model.buffers) - 1
    model.subgraphs[0].tensors.append(t)
    report = check_model(_save(model, tmp_path / "big.tflite"), compiler=None)
    assert report.param_bytes > edgetpu.PARAM_BUDGET_BYTES
    assert not report.params_fit and report.graph_maps and not report.compatible
    assert any("on-chip memory" in i for i in report.issues)


# ---------------------------------------------------------------------------
# Unreadable input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["garbage", "truncated", "fake_identifier", "empty", "missing"])
def test_bad_files_exit_2_with_clear_message(models, tmp_path, capsys, kind):
    path = tmp_path / f"{kind}.tflite"
    if kind == "garbage":
        path.write_bytes(np.random.default_rng(1).integers(0, 256, 300, dtype=np.uint8).tobytes())
        expected = "not a TFLite flatbuffer"
    elif kind == "truncated":
        path.write_bytes(models["int8"].read_bytes()[:1000])
        expected = "truncated or corrupt"
    elif kind == "fake_identifier":
        path.write_bytes(b"\x10\x00\x00\x00TFL3" + b"\xff" * 40)
        expected = "truncated or corrupt"
    elif kind == "empty":
        path.write_bytes(b"")
        expected = "not a TFLite flatbuffer"
    else:
        expected = "model file not found"

    with pytest.raises(InvalidModelError, match=expected) as excinfo:
        check_model(path, compiler=None)
    assert isinstance(excinfo.value, ValueError)
    if kind == "missing":
        assert isinstance(excinfo.value, (ModelNotFoundError, FileNotFoundError))

    assert main([str(path), "--no-compiler"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("edgetpu: error:") and expected in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert captured.out == ""


def test_missing_explicit_compiler_exit_2(models, tmp_path, capsys):
    assert main([str(models["int8"]), "--compiler", str(tmp_path / "nope")]) == 2
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


def test_fake_compiler_on_path_all_mapped(models, tmp_path, monkeypatch, capsys):
    fake = _fake_compiler(tmp_path / "bin", LOG_ALL_MAPPED)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    report = check_model(models["int8"])  # auto: found on PATH
    run = report.compiler
    assert run is not None and run.compiled and run.ok and run.returncode == 0
    assert run.command[0] == str(fake) and run.command[-1] == str(models["int8"])
    assert "Edge TPU Compiler version 16.0.384591198" in run.log
    assert "int8_edgetpu.log" in run.log  # the operation log file was picked up
    assert (run.ops_on_tpu, run.ops_on_cpu) == (5, 0)
    assert report.compatible
    assert main([str(models["int8"])]) == 0
    assert "Compiler: ran" in capsys.readouterr().out
    # --no-compiler skips it even though it is on PATH
    assert check_model(models["int8"], compiler=None).compiler is None


def test_fake_compiler_puts_ops_on_cpu(models, tmp_path, capsys):
    fake = _fake_compiler(tmp_path / "bin", LOG_PARTIAL)
    report = check_model(models["int8"], compiler=str(fake))
    assert report.graph_maps  # the static check is happy...
    assert not report.compatible  # ...but the compiler has the last word
    assert report.compiler.ops_on_cpu == 6
    assert any("CPU" in i for i in report.issues)
    assert any("trust the compiler" in w for w in report.warnings)
    assert main([str(models["int8"]), "--compiler", str(fake)]) == 1
    assert "Operation is working on an unsupported data type" in capsys.readouterr().out


def test_fake_compiler_failure(models, tmp_path):
    fake = _fake_compiler(tmp_path / "bin", LOG_FAILED, exit_code=1)
    report = check_model(models["int8"], compiler=str(fake))
    assert not report.compiler.compiled and not report.compiler.ok
    assert report.compiler.returncode == 1
    assert not report.compatible
    assert any("edgetpu_compiler failed" in i and "Didn't find op" in i for i in report.issues)


# ---------------------------------------------------------------------------
# Output and tables
# ---------------------------------------------------------------------------


def test_write_report_is_atomic_json(models, tmp_path):
    out = tmp_path / "reports" / "edgetpu.json"
    report = write_report(models["leaky_relu"], out, compiler=None)
    data = json.loads(out.read_text())
    assert data == json.loads(json.dumps(report.to_dict()))
    assert data["compatible"] is False and data["first_unsupported_op"] == "LEAKY_RELU"
    assert sorted(p.name for p in out.parent.iterdir()) == ["edgetpu.json"]  # no temp file left
    write_report(models["int8"], out, compiler=None)  # overwrite in place
    assert json.loads(out.read_text())["compatible"] is True


def test_op_table_is_consistent():
    builtin_names = {k for k in vars(schema.BuiltinOperator) if not k.startswith("_")}
    assert set(TFLITE_2_5_MAX_VERSION) <= builtin_names
    for name, rule in EDGETPU_OPS.items():
        assert name in builtin_names
        assert rule.max_version == TFLITE_2_5_MAX_VERSION[name], name
    # the ops of the known-good full-int8 MobileNetV2 (field notes) are all supported
    for name, version in {"CONV_2D": 3, "DEPTHWISE_CONV_2D": 3, "ADD": 2, "PAD": 2,
                          "MEAN": 2, "FULLY_CONNECTED": 4}.items():
        assert version <= EDGETPU_OPS[name].max_version
    assert "DEQUANTIZE" not in EDGETPU_OPS and "LEAKY_RELU" not in EDGETPU_OPS
