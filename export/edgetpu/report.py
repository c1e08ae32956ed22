"""The report types and their human-readable rendering."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from .compiler import CompilerRun
from .rules import ALL_RULES, COMPILER_MAJOR_VERSION


@dataclass
class TensorInfo:
    index: int
    name: str
    dtype: str
    shape: list[int]
    shape_signature: list[int]
    scale: list[float]  # empty when the tensor is not quantized
    zero_point: list[int]
    quantized_dimension: int


@dataclass
class OpReport:
    index: int  # execution order in the main subgraph
    op: str
    version: int
    mapped: bool  # the op itself can be mapped to the Edge TPU
    on_tpu: bool  # ...and it comes before the first unmapped op
    reasons: list[str] = field(default_factory=list)
    custom_code: str | None = None
    unverified_rules: list[str] = field(default_factory=list)  # ids of unverified rules the verdict rests on


@dataclass
class EdgeTpuReport:
    model_path: str
    file_bytes: int
    num_subgraphs: int
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    ops: list[OpReport]
    first_unsupported_index: int | None
    first_unsupported_op: str | None
    num_ops: int
    tpu_ops: int
    tpu_share: float  # tpu_ops / num_ops (1.0 for an empty graph)
    param_bytes: int
    param_budget_bytes: int
    params_fit: bool
    graph_maps: bool  # every op mapped and the compiler can parse the model
    compatible: bool  # graph_maps, no model-level issue, compiler (if run) agrees
    issues: list[str]  # model-level problems (each makes the model incompatible)
    warnings: list[str]  # e.g. parameters that do not fit on chip (streamed: slower, still runs)
    compiler: CompilerRun | None
    compiler_note: str  # why the compiler was or was not run
    assumed_compiler_version: int = COMPILER_MAJOR_VERSION
    # Rules no source confirms (ids of export.edgetpu.rules.ALL_RULES, explained in
    # docs/edgetpu_rules.md): the ones "compatible" rests on, and the ones any verdict
    # of this report (an op's "mapped" or the overall result) rests on.
    verdict_unverified_rules: list[str] = field(default_factory=list)
    unverified_rules: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def render(self) -> str:
        return render_table(self)


def _format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def _describe_tensor(t: TensorInfo) -> str:
    shape = t.shape if t.shape == t.shape_signature else f"{t.shape} (signature {t.shape_signature})"
    text = f"{t.name}  {t.dtype} {shape}"
    if t.scale:
        s = t.scale[0] if len(t.scale) == 1 else t.scale
        z = t.zero_point[0] if len(t.zero_point) == 1 else t.zero_point
        text += f"  scale={s:.6g} zero_point={z}" if len(t.scale) == 1 else f"  scale={s} zero_point={z}"
    else:
        text += "  (not quantized)"
    return text


def _unverified_note(rule_id: str) -> str:
    rule = ALL_RULES.get(rule_id)
    return f"{rule_id}: {rule.note}" if rule is not None and rule.note else rule_id


def _op_rows(report: EdgeTpuReport) -> list[str]:
    width = max([len("Operator")] + [len(op.op) for op in report.ops])
    lines = [f"{'#':>4}  {'Operator':<{width}}  {'Ver':>3}  {'Mapped':<6}  {'Runs on':<7}  Reasons"]
    pad = " " * (4 + 2 + width + 2 + 3 + 2 + 6 + 2 + 7 + 2)
    for op in report.ops:
        first, *rest = op.reasons or [""]
        mapped = ("yes" if op.mapped else "no") + ("*" if op.unverified_rules else "")
        lines.append(f"{op.index:>4}  {op.op:<{width}}  {op.version:>3}  "
                     f"{mapped:<6}  {'TPU' if op.on_tpu else 'CPU':<7}  {first}".rstrip())
        lines.extend(pad + r for r in rest)
    return lines


def _compiler_lines(report: EdgeTpuReport) -> list[str]:
    run = report.compiler
    if run is None:
        return [f"Compiler: {report.compiler_note}"]
    state = "compiled" if run.compiled else "FAILED"
    lines = [f"Compiler: {report.compiler_note}: version {run.version or '?'}, {state}, "
             f"ops on Edge TPU {run.ops_on_tpu if run.ops_on_tpu is not None else '?'}, "
             f"on CPU {run.ops_on_cpu if run.ops_on_cpu is not None else '?'}"]
    lines.extend(f"  compiler: {o.op} x{o.count}: {o.status}" for o in run.operators if not o.on_tpu)
    lines.extend(f"  compiler: {e}" for e in run.errors)
    return lines


def _result_lines(report: EdgeTpuReport) -> list[str]:
    if report.compatible:
        lines = ["Result: COMPATIBLE - the whole graph maps to the Edge TPU"]
    else:
        lines = ["Result: NOT COMPATIBLE"]
        if report.first_unsupported_index is not None:
            op = report.ops[report.first_unsupported_index]
            lines.append(f"  - op #{op.index} {op.op} cannot be mapped; it and the "
                         f"{report.num_ops - op.index - 1} op(s) after it run on the CPU")
        lines.extend(f"  - {i}" for i in report.issues)
    if report.verdict_unverified_rules:
        lines.append("  This result rests on rules no source confirms: "
                     + ", ".join(report.verdict_unverified_rules))
    return lines


def render_table(report: EdgeTpuReport) -> str:
    """Human-readable report: one row per operator, then the summary."""
    lines = [f"Edge TPU check: {report.model_path} ({_format_bytes(report.file_bytes)})"]
    for label, tensors in (("Input ", report.inputs), ("Output", report.outputs)):
        lines.extend(f"{label}: {_describe_tensor(t)}" for t in tensors)
    lines += ["", *_op_rows(report), ""]
    first_unsupported = ("none" if report.first_unsupported_index is None
                         else f"#{report.first_unsupported_index} {report.first_unsupported_op}")
    lines.append(f"Subgraphs: {report.num_subgraphs}   Ops on Edge TPU: {report.tpu_ops}/{report.num_ops} "
                 f"({report.tpu_share:.0%})   First unsupported op: {first_unsupported}")
    fit = "fits" if report.params_fit else "does NOT fit: the rest is streamed from host memory"
    lines.append(f"Parameters: {_format_bytes(report.param_bytes)} of ~{_format_bytes(report.param_budget_bytes)} "
                 f"on-chip cache ({fit})")
    lines += _compiler_lines(report)
    lines.extend(f"Warning: {w}" for w in report.warnings)
    if report.unverified_rules:
        lines.append("Unverified: verdicts marked * (and the result, if it says so) rest on rules that no source "
                     "read confirms (docs/edgetpu_rules.md):")
        lines.extend(f"  - {_unverified_note(r)}" for r in report.unverified_rules)
    lines += _result_lines(report)
    return "\n".join(lines)
