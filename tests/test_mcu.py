"""The microcontroller deliverable: model_int8.cc / model_int8.h compile with the system C++ compiler and hold
exactly the .tflite bytes, 16-byte aligned, with the labels, quantization, arena size and op list."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from data.errors import ConfigError
from data.preprocessing import LABELS, PreprocessSpec
from export.layout import C_HEADER, C_SOURCE, ExportDir
from export.mcu import round_up_16, write_c_array
from export.tflm import io_quantization, model_ops, smallest_arena

pytestmark = pytest.mark.slow  # every test here needs the tiny export (training plus conversion)

# Writes the model array to argv[1] and prints every constant, one per line, as the program sees them.
MAIN_CC = r"""
#include <cstdint>
#include <cstdio>
#include "{header}"

static_assert(kModelInt8TensorArenaSize % 16 == 0, "arena size must be a multiple of 16");

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  if (reinterpret_cast<std::uintptr_t>(g_model_int8) % 16 != 0) {
    std::fprintf(stderr, "g_model_int8 is not 16-byte aligned\n");
    return 3;
  }
  std::FILE* out = std::fopen(argv[1], "wb");
  if (out == nullptr || std::fwrite(g_model_int8, 1, g_model_int8_len, out) != g_model_int8_len) return 4;
  std::fclose(out);
  for (int i = 0; i < kModelInt8NumClasses; ++i) std::printf("label %d %s\n", i, kModelInt8Labels[i]);
  std::printf("input %.9g %d\n", kModelInt8InputScale, kModelInt8InputZeroPoint);
  std::printf("output %.9g %d\n", kModelInt8OutputScale, kModelInt8OutputZeroPoint);
  std::printf("arena %u\n", kModelInt8TensorArenaSize);
  for (int i = 0; i < kModelInt8NumOps; ++i) std::printf("op %s\n", kModelInt8Ops[i]);
  return 0;
}
"""


@pytest.fixture(scope="module")
def int8_model(tiny_export):
    return ExportDir(tiny_export.out).int8


@pytest.fixture(scope="module")
def deliverable(tiny_export, int8_model, tmp_path_factory):
    """(cc path, h path, arena bytes, ops) written for the tiny export."""
    spec = PreprocessSpec.load(tiny_export.out)
    arena_bytes, ops = smallest_arena(int8_model), model_ops(int8_model)
    cc_path, h_path = write_c_array(int8_model, tmp_path_factory.mktemp("mcu"), spec.labels, arena_bytes, ops)
    return cc_path, h_path, arena_bytes, ops


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs the system C++ compiler g++")
def test_c_array_compiles_and_holds_the_model_bytes_aligned(deliverable, int8_model, tmp_path):
    cc_path, _, arena_bytes, ops = deliverable
    main_cc, program, dumped = tmp_path / "main.cc", tmp_path / "dump_model", tmp_path / "dumped.tflite"
    main_cc.write_text(MAIN_CC.replace("{header}", C_HEADER))
    compiled = subprocess.run(["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", f"-I{cc_path.parent}",
                               "-o", str(program), str(main_cc), str(cc_path)], capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr
    run = subprocess.run([str(program), str(dumped)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert dumped.read_bytes() == int8_model.read_bytes()

    printed = run.stdout.splitlines()
    quantization = io_quantization(int8_model)
    assert printed[:2] == ["label 0 helmet", "label 1 no_helmet"]
    for line, which in zip(printed[2:4], ("input", "output")):
        name, scale, zero_point = line.split()
        assert name == which and int(zero_point) == quantization[which]["zero_point"]
        assert np.float32(scale) == np.float32(quantization[which]["scale"])
    assert printed[4] == f"arena {round_up_16(arena_bytes)}"
    assert printed[5:] == [f"op {op}" for op in ops]


def test_header_has_guards_declarations_and_constants(deliverable, int8_model):
    cc_path, h_path, arena_bytes, ops = deliverable
    header, source = h_path.read_text(), cc_path.read_text()
    assert (cc_path.name, h_path.name) == (C_SOURCE, C_HEADER)
    assert header.startswith("// Generated") and "#ifndef HELMET_MODEL_INT8_H_\n#define HELMET_MODEL_INT8_H_" in header
    assert header.rstrip().endswith("#endif  // HELMET_MODEL_INT8_H_")
    for declaration in ("extern const unsigned char g_model_int8[];", "extern const unsigned int g_model_int8_len;",
                        "extern const char* const kModelInt8Labels[kModelInt8NumClasses];",
                        "extern const char* const kModelInt8Ops[kModelInt8NumOps];"):
        assert declaration in header
    assert "constexpr int kModelInt8InputZeroPoint = -128;" in header  # raw bytes - 128, as the export promises
    assert f"constexpr unsigned int kModelInt8TensorArenaSize = {round_up_16(arena_bytes)};" in header
    assert round_up_16(arena_bytes) - arena_bytes in range(16)
    assert '{"helmet", "no_helmet"}' in source and tuple(LABELS) == ("helmet", "no_helmet")
    assert f"// Ops: {', '.join(ops)}." in source
    assert "alignas(16) const unsigned char g_model_int8[] = {" in source
    assert f"const unsigned int g_model_int8_len = {int8_model.stat().st_size};" in source


def test_the_export_wrote_the_same_c_array(deliverable, tiny_export):
    """The export measured the same arena and ops, so its model_int8.cc / .h are these files byte for byte."""
    cc_path, h_path, _, _ = deliverable
    export = ExportDir(tiny_export.out)
    assert export.c_source.read_bytes() == cc_path.read_bytes()
    assert export.c_header.read_bytes() == h_path.read_bytes()
    assert oct(export.c_source.stat().st_mode & 0o777) == "0o644"  # sources to hand on, not private files


def test_rewriting_replaces_both_files_and_leaves_no_temporary(deliverable, int8_model):
    cc_path, h_path, arena_bytes, ops = deliverable
    write_c_array(int8_model, cc_path.parent, LABELS, arena_bytes + 100, ops)
    assert f"= {round_up_16(arena_bytes + 100)};" in h_path.read_text()
    assert not [p.name for p in cc_path.parent.iterdir() if p.name.endswith(".tmp")]


def test_label_count_must_match_the_model_outputs(int8_model, tmp_path):
    with pytest.raises(ConfigError, match="1 labels"):
        write_c_array(int8_model, tmp_path, ["helmet"], 1024, ["CONV_2D"])
    assert list(tmp_path.iterdir()) == []
