"""Running ``edgetpu_compiler`` and parsing what it prints."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COMPILER_NAME = "edgetpu_compiler"


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
