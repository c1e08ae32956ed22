"""Tests for export/edgetpu/: the static Edge TPU check on TensorFlow-built models.

Tiny models are built once per module with TensorFlow (a few seconds); the
variants that TensorFlow will not produce on request (too-new op versions,
opcodes >= 127, old-style opcodes, two subgraphs, oversized parameters, op
limitations, ops whose rows no source confirms) are made by editing the int8
model with the flatbuffer object API. The compiler-log parser is tested in
test_edgetpu_compiler.py, unreadable files in test_flatbuffer_fuzz.py, the rule
table and its sources in test_edgetpu_sources.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import flatbuffers
import numpy as np
import pytest

from export import edgetpu
from export.edgetpu import (
    EDGETPU_OPS,
    check_model,
    main,
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
    # every verdict rests on rules a source confirms: nothing to flag
    assert report.unverified_rules == [] and report.verdict_unverified_rules == []
    assert all(op.unverified_rules == [] for op in report.ops)
    assert "Unverified" not in render_table(report) and "yes*" not in render_table(report)


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
    assert report.unverified_rules == []  # both limitations are quoted from the Edge TPU table


def _mean_to_sum(model, axes: list[int] | None = None):
    """Turn the MEAN op into SUM (same inputs and ReducerOptions), optionally with other axes."""
    mean = _op_of(model, "MEAN")
    code = _opcode_of(model, "MEAN")
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.SUM
    if axes is not None:
        axes_tensor = model.subgraphs[0].tensors[mean.inputs[1]]
        model.buffers[axes_tensor.buffer].data = np.array(axes, dtype=np.int32).view(np.uint8)
    return model


def test_mapped_op_on_an_unverified_row_is_flagged(models, tmp_path, capsys):
    path = _save(_mean_to_sum(_load(models["int8"])), tmp_path / "sum.tflite")
    report = check_model(path, compiler=None)
    sum_op = report.ops[3]
    assert (sum_op.op, sum_op.mapped, sum_op.on_tpu) == ("SUM", True, True)
    assert sum_op.unverified_rules == ["op:SUM"]
    assert all(op.unverified_rules == [] for op in report.ops if op.op != "SUM")
    assert report.compatible
    assert report.verdict_unverified_rules == ["op:SUM"] and report.unverified_rules == ["op:SUM"]
    table = render_table(report)
    assert ["3", "SUM", "2", "yes*", "TPU"] in [line.split() for line in table.splitlines()]
    assert "Unverified:" in table and "  - op:SUM: no source read lists it" in table
    assert "This result rests on rules no source confirms: op:SUM" in table
    assert main([str(path), "--no-compiler", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verdict_unverified_rules"] == ["op:SUM"]
    assert data["ops"][3]["unverified_rules"] == ["op:SUM"] and data["ops"][0]["unverified_rules"] == []


def test_unmapped_op_on_an_unverified_limitation_is_flagged(models, tmp_path):
    report = check_model(_save(_mean_to_sum(_load(models["int8"]), axes=[0, 1]), tmp_path / "sum0.tflite"),
                         compiler=None)
    sum_op = report.ops[3]
    assert not sum_op.mapped and any("batch dimension" in r for r in sum_op.reasons)
    assert sum_op.unverified_rules == ["limit:SUM:batch"]
    assert not report.compatible and report.first_unsupported_index == 3
    assert report.verdict_unverified_rules == ["limit:SUM:batch"]
    assert "This result rests on rules no source confirms: limit:SUM:batch" in render_table(report)


def test_verified_reason_outweighs_an_unverified_one(models, tmp_path):
    model = _mean_to_sum(_load(models["int8"]), axes=[0, 1])
    _op_of(model, "CONV_2D").builtinOptions.dilationHFactor = 2  # a verified limitation, earlier in the graph
    report = check_model(_save(model, tmp_path / "mixed.tflite"), compiler=None)
    assert report.first_unsupported_index == 0 and report.ops[0].unverified_rules == []
    assert report.verdict_unverified_rules == []  # NOT COMPATIBLE holds on verified grounds
    assert report.unverified_rules == ["limit:SUM:batch"]  # the SUM op's own verdict still rests on it
    assert "This result rests on" not in render_table(report)


def test_two_subgraphs_not_compatible(models, tmp_path):
    model = _load(models["int8"])
    model.subgraphs.append(model.subgraphs[0])
    report = check_model(_save(model, tmp_path / "two.tflite"), compiler=None)
    assert report.num_subgraphs == 2
    assert report.graph_maps and not report.compatible
    assert any("2 subgraphs" in i for i in report.issues)
    # no source read states the one-subgraph rule: the verdict says it rests on it
    assert report.verdict_unverified_rules == ["model:single-subgraph"]


def test_parameters_over_the_on_chip_cache_only_warn(models, tmp_path, capsys):
    # Changed rule: the compiler streams parameters that do not fit on chip
    # (PINTO0309/openvino2tensorflow#28: 7.03 MiB "Off-chip memory used for
    # streaming"), so a large model is slower, not incompatible.
    model = _load(models["int8"])
    big = schema.BufferT()
    big.data = np.zeros(edgetpu.PARAM_BUDGET_BYTES + 1024, dtype=np.uint8)
    model.buffers.append(big)
    t = schema.TensorT()
    t.name, t.type, t.shape = b"big_weights", schema.TensorType.INT8, np.array([len(big.data)], np.int32)
    t.buffer = len(model.buffers) - 1
    model.subgraphs[0].tensors.append(t)
    path = _save(model, tmp_path / "big.tflite")
    report = check_model(path, compiler=None)
    assert report.param_bytes > edgetpu.PARAM_BUDGET_BYTES
    assert not report.params_fit and report.graph_maps and report.compatible
    assert report.issues == []
    assert any("streams the rest from host memory" in w for w in report.warnings)
    assert main([str(path), "--no-compiler"]) == 0
    out = capsys.readouterr().out
    assert "does NOT fit: the rest is streamed from host memory" in out and "Result: COMPATIBLE" in out


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
