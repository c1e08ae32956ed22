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
* a single subgraph; parameters beyond the ~7-8 MB on-chip cache are streamed
  from host memory (a warning: slower, still runs).

Every rule names its source (``rules.ALL_RULES``, ``sources.SOURCES``;
``docs/edgetpu_rules.md``); the report lists the rules no source confirms
whenever a verdict rests on one.

The compiler partitions once: the first op that cannot be mapped, and every
op after it, run on the CPU. The report says which ops would run where.

If ``edgetpu_compiler`` is on PATH (or given explicitly) it is also run, its
log is kept in the report, and its verdict is folded into ``compatible``.

Command line::

    python -m export.edgetpu MODEL.tflite [--json] [--no-compiler] [--compiler PATH]

Exit status: 0 compatible, 1 not compatible, 2 unreadable input (missing file,
not a TFLite flatbuffer, truncated or corrupt) or a compiler path that does not
exist, with one ``edgetpu: error: ...`` line. The errors are ``ToolchainError``s
(``data.errors``).

Modules (one job each; ``python -m export.edgetpu`` runs ``cli.main``):

* ``flatbuffer``: reading a .tflite into tensor/op views (``read_model``);
* ``sources``: the sources read and the ``Rule`` record (status, source, quote);
* ``op_versions``: the op versions compiler 16 parses (``TFLITE_2_5_MAX_VERSION``);
* ``limits``: the per-op limitation checks; ``op_table``: the op table (``EDGETPU_OPS``);
* ``rules``: tensor and model-level rules, ``ALL_RULES``, re-exporting the above;
* ``check``: the static check and partitioning (``check_model``, ``write_report``);
* ``compiler``: running and parsing ``edgetpu_compiler``;
* ``report``: the report types and ``render_table``;
* ``errors``: the exceptions; ``cli``: the command line.
"""

from __future__ import annotations

from .check import check_model, write_report
from .cli import main
from .compiler import COMPILER_NAME, CompilerOpStatus, CompilerRun, parse_compiler_output, run_compiler
from .errors import CompilerNotFoundError, EdgeTpuCheckError, InvalidModelError, ModelNotFoundError
from .flatbuffer import TFLITE_IDENTIFIER, read_model, schema
from .report import EdgeTpuReport, OpReport, TensorInfo, render_table
from .rules import (
    ALL_RULES,
    COMPILER_MAJOR_VERSION,
    EDGETPU_OPS,
    PARAM_BUDGET_BYTES,
    PARAM_WARN_BYTES,
    SOFTMAX_MAX_ELEMENTS,
    TFLITE_2_5_MAX_VERSION,
    OpRule,
    Rule,
)
from .sources import SOURCES

__all__ = [
    "ALL_RULES",
    "SOURCES",
    "Rule",
    "EDGETPU_OPS",
    "TFLITE_2_5_MAX_VERSION",
    "PARAM_BUDGET_BYTES",
    "PARAM_WARN_BYTES",
    "SOFTMAX_MAX_ELEMENTS",
    "COMPILER_MAJOR_VERSION",
    "COMPILER_NAME",
    "TFLITE_IDENTIFIER",
    "schema",
    "OpRule",
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
    "read_model",
    "parse_compiler_output",
    "run_compiler",
    "render_table",
    "write_report",
    "main",
]
