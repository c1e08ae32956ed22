"""Hostile .tflite files: the reader and the checker end with a report or one clear error, never a crash.

A tiny full-int8 conv model is converted with TensorFlow once per module; a few
hundred seeded mutants of it (truncations, bit flips, table fields and the
offsets they point at overwritten with huge, negative or small wrong values,
tensor indices pointed elsewhere, zeroed vtables)
go through ``python -m export.edgetpu MUTANT --json --no-compiler`` in batches
run by one subprocess each. Every mutant must exit 0/1 with a JSON report or 2
with one ``edgetpu: error:`` line naming the file; a traceback, a signal or a
timeout fails the test with the mutant's seed.
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
import time
from pathlib import Path

import flatbuffers
import numpy as np
import pytest

from data.errors import ArtifactError, ToolchainError
from export.edgetpu import (
    CompilerNotFoundError,
    EdgeTpuCheckError,
    InvalidModelError,
    ModelNotFoundError,
    check_model,
    main,
    schema,
)

pytestmark = pytest.mark.filterwarnings("ignore:Statistics for quantized inputs:UserWarning")

REPO = Path(__file__).resolve().parents[1]
MUTANTS = 600
BATCH = 100
BATCH_TIMEOUT_S = 90  # 100 mutants take ~2 s; a hang is what this catches
KINDS = ("truncate", "flip", "field", "target", "vtable", "word", "index")
EXTREMES = (0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, 0xFFFFFFFC, 0x00FFFFFF, 0x00010000)

# Reads "seed<TAB>path" lines; runs the command line of each in this process,
# as `python -m export.edgetpu PATH --json --no-compiler` would, and prints its
# exit code and output. "START seed" comes first, so a hang or a native crash
# names its mutant.
DRIVER = r"""
import contextlib, io, json, runpy, sys, traceback
for line in sys.stdin:
    seed, path = line.rstrip("\n").split("\t", 1)
    print("START", seed, flush=True)
    out, err = io.StringIO(), io.StringIO()
    sys.argv = ["export.edgetpu", path, "--json", "--no-compiler"]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_module("export.edgetpu", run_name="__main__", alter_sys=True)
            code = "returned without exiting"
        except SystemExit as exc:
            code = exc.code
        except BaseException:
            err.write(traceback.format_exc())
            code = "traceback"
    print("DONE", json.dumps({"seed": int(seed), "code": code, "out": out.getvalue(), "err": err.getvalue()}),
          flush=True)
"""


# ---------------------------------------------------------------------------
# The model and its layout
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_int8(tmp_path_factory) -> Path:
    """conv 3x3 -> global average pool -> dense, full int8 (~2 KB)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf = pytest.importorskip("tensorflow")
    inp = tf.keras.Input(shape=(8, 8, 3), batch_size=1)
    x = tf.keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    converter = tf.lite.TFLiteConverter.from_keras_model(tf.keras.Model(inp, tf.keras.layers.Dense(2)(x)))
    rng = np.random.default_rng(0)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([rng.random((1, 8, 8, 3), dtype=np.float32)] for _ in range(4))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    path = tmp_path_factory.mktemp("fuzz") / "tiny_int8.tflite"
    path.write_bytes(converter.convert())
    return path


def _tables(data: bytes) -> tuple[list[int], list[int]]:
    """Positions of every table the reader visits, and of every tensor-index vector element."""
    model = schema.Model.GetRootAs(data, 0)
    tables, indices = [model], []
    tables += [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
    tables += [model.Buffers(i) for i in range(model.BuffersLength())]
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        tensors = [sg.Tensors(i) for i in range(sg.TensorsLength())]
        operators = [sg.Operators(i) for i in range(sg.OperatorsLength())]
        tables += [sg, *tensors, *(t.Quantization() for t in tensors if t.Quantization() is not None), *operators]
        # SubGraph.inputs/outputs are fields 6/8, Operator.inputs/outputs fields 6/8
        for table in (sg, *operators):
            for field in (6, 8):
                if table._tab.Offset(field):
                    start = table._tab.Vector(table._tab.Offset(field))
                    indices += [start + 4 * i for i in range(table._tab.VectorLen(table._tab.Offset(field)))]
    return [t._tab.Pos for t in tables], indices


def _layout(data: bytes) -> dict[str, list]:
    """vtables (start, size), table fields, the places 4-byte fields point at, tensor-index elements."""
    u16 = lambda pos: struct.unpack_from("<H", data, pos)[0]  # noqa: E731
    vtables, fields, targets = [], [], []
    tables, indices = _tables(data)
    for pos in tables:
        vtable = pos - struct.unpack_from("<i", data, pos)[0]
        size = u16(vtable)
        vtables.append((vtable, size))
        for slot in range(4, size, 2):
            if u16(vtable + slot):
                field = pos + u16(vtable + slot)
                fields.append(field)
                if field + 4 <= len(data):
                    target = field + struct.unpack_from("<I", data, field)[0]
                    if target + 4 <= len(data):
                        targets.append(target)  # a vector length, a string length or a table's vtable offset
    return {"vtables": vtables, "fields": fields, "targets": targets, "indices": indices}


def _value(rng: random.Random) -> int:
    """An extreme 32-bit value, a small one (a plausible but wrong index or type), or any."""
    roll = rng.random()
    if roll < 0.5:
        return rng.choice(EXTREMES)
    return rng.randrange(0, 300) if roll < 0.9 else rng.randrange(1 << 32)


def _mutant(seed: int, data: bytes, layout: dict[str, list]) -> tuple[str, bytes]:
    rng = random.Random(seed)
    kind = KINDS[seed % len(KINDS)]
    d = bytearray(data)
    if kind == "truncate":
        return kind, bytes(d[:rng.randrange(0, len(d))])
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            d[rng.randrange(8, len(d))] ^= 1 << rng.randrange(8)
    elif kind == "vtable":
        start, size = rng.choice(layout["vtables"])
        keep = 0 if rng.random() < 0.5 else 4  # everything, or only the field slots
        d[start + keep:start + size] = bytes(max(size - keep, 0))
    elif kind == "index":
        struct.pack_into("<i", d, rng.choice(layout["indices"]), rng.randrange(-3, 40))
    else:
        if kind == "word":
            pos = rng.randrange(0, len(d) // 4) * 4
        else:
            pos = rng.choice(layout["fields" if kind == "field" else "targets"])
        struct.pack_into("<I", d, min(pos, len(d) - 4), _value(rng))
    return kind, bytes(d)


# ---------------------------------------------------------------------------
# Running the command line
# ---------------------------------------------------------------------------


def _run_cli(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "export.edgetpu", str(path), "--json", "--no-compiler"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def _problem(path: Path, code, out: str, err: str) -> str | None:
    """Why this run is not "a report (exit 0/1) or one clear error line (exit 2)", or None."""
    if code in (0, 1):
        try:
            json.loads(out)
        except ValueError:
            return f"exit {code} without a JSON report: {out[:300]!r}"
        return f"exit {code} with stderr: {err[-500:]!r}" if err.strip() else None
    lines = err.strip().splitlines()
    if code == 2:
        if out or len(lines) != 1 or not lines[0].startswith("edgetpu: error: ") or str(path) not in lines[0]:
            return f"exit 2 without one clear error line naming the file: {err[-800:]!r} / {out[:200]!r}"
        return None
    return f"exit {code!r}: {err[-1500:]}"


def _run_batch(batch: list[tuple[int, str, Path]], codes: dict[int, object]) -> list[str]:
    """Run the mutants of ``batch`` in one subprocess; the problems found, by seed (exit codes into ``codes``)."""
    kinds = {seed: kind for seed, kind, _ in batch}
    paths = {seed: path for seed, _, path in batch}
    stdin = "".join(f"{seed}\t{path}\n" for seed, _, path in batch)
    try:
        proc = subprocess.run([sys.executable, "-c", DRIVER], input=stdin, cwd=REPO, capture_output=True,
                              text=True, timeout=BATCH_TIMEOUT_S)
        stdout, crashed = proc.stdout, proc.returncode != 0
        why = f"driver died with exit {proc.returncode}: {proc.stderr[-1500:]}"
    except subprocess.TimeoutExpired as exc:  # its partial output is bytes, even with text=True
        stdout, crashed = (exc.stdout or b"").decode("utf-8", "replace"), True
        why = f"no result within {BATCH_TIMEOUT_S} s (hang)"
    problems, started = [], None
    for line in stdout.splitlines():
        tag, _, rest = line.partition(" ")
        if tag == "START":
            started = int(rest)
        elif tag == "DONE":
            result = json.loads(rest)
            seed = result["seed"]
            codes[seed] = result["code"]
            problem = _problem(paths[seed], result["code"], result["out"], result["err"])
            if problem:
                problems.append(f"seed {seed} ({kinds[seed]}): {problem}")
            started = None
    if crashed:
        culprit = f"seed {started} ({kinds[started]})" if started is not None else "the batch"
        problems.append(f"{culprit}: {why}")
    return problems


# ---------------------------------------------------------------------------
# The fuzz run
# ---------------------------------------------------------------------------


def test_mutants_end_with_a_report_or_one_error_line(tiny_int8, tmp_path):
    data = tiny_int8.read_bytes()
    layout = _layout(data)
    assert layout["vtables"] and layout["fields"] and layout["targets"] and layout["indices"]
    mutants = []
    for seed in range(MUTANTS):
        kind, mutant = _mutant(seed, data, layout)
        path = tmp_path / f"mutant_{seed:04d}.tflite"
        path.write_bytes(mutant)
        mutants.append((seed, kind, path))
    problems, codes = [], {}
    for start in range(0, MUTANTS, BATCH):
        problems += _run_batch(mutants[start:start + BATCH], codes)
    assert not problems, "\n".join(problems)
    assert len(codes) == MUTANTS
    # both outcomes occur, so the run went through the reader and the checker
    assert {0, 2} <= set(codes.values()), sorted(set(codes.values()))


# ---------------------------------------------------------------------------
# Named hostile files
# ---------------------------------------------------------------------------


def test_truncated_file_is_one_clear_error(tiny_int8, tmp_path):
    data = tiny_int8.read_bytes()
    path = tmp_path / "truncated.tflite"
    path.write_bytes(data[:len(data) // 2])
    proc = _run_cli(path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == proc.stderr.strip().splitlines()[0]
    assert proc.stderr.startswith(f"edgetpu: error: {path} is truncated or corrupt")
    for cut in (9, 100, len(data) - 4):
        path.write_bytes(data[:cut])
        with pytest.raises(InvalidModelError, match=str(path)):
            check_model(path, compiler=None)


def test_out_of_range_offset_is_one_clear_error(tiny_int8, tmp_path):
    data = bytearray(tiny_int8.read_bytes())
    path = tmp_path / "root_offset.tflite"
    struct.pack_into("<I", data, 0, 0x7FFFFFFF)  # the root table offset, far past the end
    path.write_bytes(bytes(data))
    proc = _run_cli(path)
    assert proc.returncode == 2 and proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith(f"edgetpu: error: {path} is truncated or corrupt")

    data = bytearray(tiny_int8.read_bytes())  # the model's subgraphs vector, said to hold 2**31-1 entries
    model = schema.Model.GetRootAs(bytes(data), 0)._tab
    subgraphs_length = model.Vector(model.Offset(8)) - 4  # field 8: Model.subgraphs
    struct.pack_into("<I", data, subgraphs_length, 0x7FFFFFFF)
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidModelError, match="subgraphs: 2147483647 entries, more than a file of this size"):
        check_model(path, compiler=None)


def _edit(path: Path, edit, out: Path) -> Path:
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(path.read_bytes(), 0))
    edit(model)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    out.write_bytes(bytes(builder.Output()))
    return out


def test_options_of_another_op_type_are_read_as_absent(tiny_int8, tmp_path):
    # Found by the fuzz run: a CONV_2D carrying FullyConnectedOptions crashed the
    # dilation check with AttributeError. TFLite reads such options as absent.
    def give_conv_fc_options(model):
        conv = model.subgraphs[0].operators[0]
        conv.builtinOptionsType = schema.BuiltinOptions.FullyConnectedOptions
        conv.builtinOptions = schema.FullyConnectedOptionsT()

    path = _edit(tiny_int8, give_conv_fc_options, tmp_path / "conv_fc_options.tflite")
    report = check_model(path, compiler=None)
    assert report.ops[0].op == "CONV_2D" and report.ops[0].mapped and report.compatible


def test_subgraph_input_out_of_range_is_one_clear_error(tiny_int8, tmp_path, capsys):
    # Found by the fuzz run: an input index past the tensor list raised IndexError.
    def point_input_past_the_end(model):
        model.subgraphs[0].inputs = np.array([999], np.int32)

    path = _edit(tiny_int8, point_input_past_the_end, tmp_path / "bad_input.tflite")
    with pytest.raises(InvalidModelError, match="subgraph input refers to missing tensor 999"):
        check_model(path, compiler=None)
    assert main([str(path), "--no-compiler"]) == 2
    assert capsys.readouterr().err.startswith(f"edgetpu: error: {path}: subgraph input refers to missing")


def _shared_tensor_bomb(n: int) -> bytes:
    """A model whose subgraph lists one tensor table n times; that tensor has an n-long shape."""
    b = flatbuffers.Builder(0)
    schema.TensorStartShapeVector(b, n)
    for _ in range(n):
        b.PrependInt32(1)
    shape = b.EndVector()
    schema.TensorStart(b)
    schema.TensorAddShape(b, shape)
    schema.TensorAddType(b, schema.TensorType.INT8)
    tensor = schema.TensorEnd(b)
    schema.SubGraphStartTensorsVector(b, n)
    for _ in range(n):
        b.PrependUOffsetTRelative(tensor)
    tensors = b.EndVector()
    schema.SubGraphStart(b)
    schema.SubGraphAddTensors(b, tensors)
    subgraph = schema.SubGraphEnd(b)
    schema.ModelStartSubgraphsVector(b, 1)
    b.PrependUOffsetTRelative(subgraph)
    subgraphs = b.EndVector()
    schema.ModelStart(b)
    schema.ModelAddVersion(b, 3)
    schema.ModelAddSubgraphs(b, subgraphs)
    b.Finish(schema.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_shared_tables_cannot_blow_up_the_work(tmp_path):
    # 160 KB that unpack to 20,000 x 20,000 shape entries: the reader used to
    # spend minutes on such a file; the entry budget stops it at once.
    path = tmp_path / "bomb.tflite"
    path.write_bytes(_shared_tensor_bomb(20_000))
    started = time.perf_counter()
    with pytest.raises(InvalidModelError, match="more than a file of this size can hold"):
        check_model(path, compiler=None)
    assert time.perf_counter() - started < 5
    path.write_bytes(_shared_tensor_bomb(20))  # the same structure, small: read normally
    assert check_model(path, compiler=None).num_ops == 0


@pytest.mark.parametrize("kind", ["garbage", "truncated", "fake_identifier", "empty", "missing", "directory"])
def test_bad_files_exit_2_with_clear_message(tiny_int8, tmp_path, capsys, kind):
    path = tmp_path / f"{kind}.tflite"
    expected = {"garbage": "not a TFLite flatbuffer", "empty": "not a TFLite flatbuffer",
                "missing": "model file not found", "directory": "not a file"}.get(kind, "truncated or corrupt")
    if kind == "garbage":
        path.write_bytes(np.random.default_rng(1).integers(0, 256, 300, dtype=np.uint8).tobytes())
    elif kind == "truncated":
        path.write_bytes(tiny_int8.read_bytes()[:1000])
    elif kind == "fake_identifier":
        path.write_bytes(b"\x10\x00\x00\x00TFL3" + b"\xff" * 40)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "directory":
        path.mkdir()

    with pytest.raises(InvalidModelError, match=expected) as excinfo:
        check_model(path, compiler=None)
    assert isinstance(excinfo.value, ArtifactError) and excinfo.value.exit_code == 2
    if kind == "missing":
        assert isinstance(excinfo.value, (ModelNotFoundError, FileNotFoundError))

    assert main([str(path), "--no-compiler"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("edgetpu: error:") and expected in err and str(path) in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert captured.out == ""


def test_errors_belong_to_the_one_hierarchy():
    assert issubclass(EdgeTpuCheckError, ToolchainError)
    assert issubclass(InvalidModelError, ArtifactError) and issubclass(InvalidModelError, EdgeTpuCheckError)
    assert issubclass(ModelNotFoundError, InvalidModelError) and issubclass(ModelNotFoundError, FileNotFoundError)
    assert issubclass(CompilerNotFoundError, EdgeTpuCheckError)
    # callers written before the hierarchy catch ValueError
    assert all(issubclass(e, ValueError) for e in (InvalidModelError, ModelNotFoundError, CompilerNotFoundError))
    assert {e("x").exit_code for e in (InvalidModelError, ModelNotFoundError, CompilerNotFoundError)} == {2}
