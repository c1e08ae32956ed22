"""The static check, folded together with an optional compiler run."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .compiler import COMPILER_NAME, CompilerRun, run_compiler
from .errors import CompilerNotFoundError
from .flatbuffer import _ParsedModel, _Tensor, read_model
from .report import EdgeTpuReport, OpReport, TensorInfo, _format_bytes
from .rules import (
    _ACTIVATION_DTYPES,
    COMPILER_MAJOR_VERSION,
    EDGETPU_OPS,
    NOT_QUANTIZED,
    OP_VERSION_RULE,
    PARAM_BUDGET_BYTES,
    PARAM_WARN_BYTES,
    SINGLE_SUBGRAPH,
    SUPPORTED_OPS,
    TFLITE_2_5_MAX_VERSION,
    Finding,
    _OpView,
    input_findings,
    tensor_findings,
    unverified_basis,
)


def _tensor_info(t: _Tensor) -> TensorInfo:
    return TensorInfo(t.index, t.name, t.dtype, list(t.shape), list(t.signature),
                      list(t.scale), list(t.zero_point), t.quantized_dimension)


@dataclass
class _StaticResult:
    file_bytes: int
    model: _ParsedModel
    ops: list[OpReport]
    issues: list[Finding]
    warnings: list[str]
    compiler_would_refuse: bool  # too-new op versions or no quantization at all


def _op_findings(name: str, version: int, custom: str | None, options, ins: list[int], outs: list[int],
                 tensors: list[_Tensor]) -> tuple[list[Finding], bool]:
    """(reasons the op cannot be mapped, whether its version stops compiler 16 parsing the model)."""
    findings: list[Finding] = []
    blocks_parsing = False
    if custom is not None:
        kind = "Flex" if custom.startswith("Flex") else "custom"
        findings.append(Finding(SUPPORTED_OPS, f"Flex/custom op: {kind} op '{custom}' cannot run on the Edge TPU"))
    else:
        rule = EDGETPU_OPS.get(name)
        if rule is None:
            findings.append(Finding(SUPPORTED_OPS, f"unsupported op: {name} is not on the Edge TPU operation list"))
        # The version check applies to every op: compiler 16 has to parse the
        # whole model, including the ops it would leave on the CPU.
        known = rule.max_version if rule is not None else TFLITE_2_5_MAX_VERSION.get(name)
        if known is None or version > known:
            blocks_parsing = True
            findings.append(Finding(OP_VERSION_RULE, (
                f"op {name} is unknown to compiler {COMPILER_MAJOR_VERSION} (newer than TFLite 2.5)"
                if known is None else
                f"op version {version} newer than compiler {COMPILER_MAJOR_VERSION} knows (max {known})")))
        if rule is not None:
            view = _OpView(name, options, [tensors[i] if i >= 0 else None for i in ins],
                           [tensors[i] for i in outs if i >= 0])
            for limit in rule.limits:
                findings.extend(Finding(limit.rule, message) for message in limit.check(view))
    for i in dict.fromkeys(i for i in ins + outs if i >= 0):
        findings.extend(tensor_findings(tensors[i]))
    return findings, blocks_parsing


def _static_check(path: Path) -> _StaticResult:
    data, pm = read_model(path)
    reports: list[OpReport] = []
    parse_blockers: list[str] = []
    for index, (name, version, custom, options, ins, outs) in enumerate(pm.ops):
        findings, blocks_parsing = _op_findings(name, version, custom, options, ins, outs, pm.tensors)
        if blocks_parsing:
            parse_blockers.append(f"op #{index} {name} v{version}")
        row = EDGETPU_OPS[name].row if custom is None and name in EDGETPU_OPS else None
        reports.append(OpReport(index, name, version, mapped=not findings, on_tpu=False,
                                reasons=[f.message for f in findings], custom_code=custom,
                                unverified_rules=unverified_basis(findings, row)))

    issues: list[Finding] = []
    if parse_blockers:
        issues.append(Finding(OP_VERSION_RULE, (
            f"edgetpu_compiler {COMPILER_MAJOR_VERSION} cannot parse this model "
            f"(\"Didn't find op for builtin opcode\"): {', '.join(parse_blockers)}")))
    activations = [t for t in pm.tensors if not t.is_const]
    not_quantized = bool(activations) and not any(t.dtype in _ACTIVATION_DTYPES for t in activations)
    if not_quantized:
        issues.append(Finding(NOT_QUANTIZED, "Model not quantized: no int8/uint8 activation tensors "
                                             "(needs full-integer post-training quantization or QAT)"))
    if pm.num_subgraphs > 1:
        issues.append(Finding(SINGLE_SUBGRAPH, f"{pm.num_subgraphs} subgraphs: the Edge TPU compiler supports "
                                               "only one (control flow such as WHILE/IF creates more)"))
    for i in pm.inputs:
        issues.extend(input_findings(pm.tensors[i]))
    warnings = []
    if pm.param_bytes > PARAM_WARN_BYTES:
        warnings.append(f"parameters take {_format_bytes(pm.param_bytes)}: compiler 16 caches about 7 MiB on "
                        "chip and streams the rest from host memory (the model runs, but slower)")
    return _StaticResult(len(data), pm, reports, issues, warnings,
                         compiler_would_refuse=bool(parse_blockers) or not_quantized)


def _compiler_verdict(run: CompilerRun, graph_maps: bool, issues: list[str], warnings: list[str]) -> None:
    """Fold a compiler run into the issues and warnings."""
    if not run.ok:
        if run.compiled and run.ops_on_cpu is not None:
            issues.append(f"edgetpu_compiler put {run.ops_on_cpu} operation(s) on the CPU")
        elif run.compiled:
            issues.append("edgetpu_compiler output does not say how many operations run on the CPU")
        else:
            issues.append("edgetpu_compiler failed: " + ("; ".join(run.errors) or "see log"))
    if run.compiled and graph_maps and not run.ok:
        warnings.append("the static check maps every op but the compiler did not: trust the compiler")
    if run.ok and not graph_maps:
        warnings.append("the compiler mapped every op but the static check did not: see the reasons")


def _resolve_compiler(compiler: str | os.PathLike[str] | None) -> tuple[str | None, str]:
    """(compiler executable to run or None, why it is or is not run)."""
    if compiler is None:
        return None, "not run (disabled)"
    if str(compiler) == "auto":
        found = shutil.which(COMPILER_NAME)
        return found, f"ran {found}" if found else f"not run ({COMPILER_NAME} not on PATH)"
    found = shutil.which(str(compiler)) or (str(compiler) if Path(compiler).is_file() else None)
    if found is None:
        raise CompilerNotFoundError(f"edgetpu compiler not found: {compiler}")
    return found, f"ran {found}"


def _verdict_basis(ops: list[OpReport], first: int | None, compatible: bool, issues: list[Finding],
                   compiler_failed: bool) -> list[str]:
    """The unverified rules the compatible/not compatible verdict rests on."""
    if compatible:
        return sorted({rule for op in ops for rule in op.unverified_rules})
    verified_ground = (compiler_failed or any(f.rule.verified for f in issues)
                       or (first is not None and not ops[first].unverified_rules))
    if verified_ground:
        return []
    grounds = {f.rule.id for f in issues} | set(ops[first].unverified_rules if first is not None else [])
    return sorted(grounds)


def check_model(path: str | os.PathLike[str], compiler: str | os.PathLike[str] | None = "auto",
                compiler_timeout: float = 600.0) -> EdgeTpuReport:
    """Check ``path`` against the Edge TPU requirements.

    ``compiler``: ``"auto"`` runs ``edgetpu_compiler`` when it is on PATH,
    ``None`` skips it, anything else is the compiler executable to run.

    Raises ``InvalidModelError`` (an ``ArtifactError``; ``ModelNotFoundError``
    for a missing file) when the file cannot be read as a TFLite model, and
    ``CompilerNotFoundError`` when an explicit compiler path does not exist.
    """
    path = Path(path)
    compiler_path, note = _resolve_compiler(compiler)
    static = _static_check(path)
    pm, ops, warnings = static.model, static.ops, static.warnings
    issues = [f.message for f in static.issues]

    # Partitioning: the first op that cannot be mapped and everything after it
    # run on the CPU. A model the compiler refuses runs entirely on the CPU.
    first = next((op.index for op in ops if not op.mapped), None)
    for op in ops:
        op.on_tpu = (op.mapped and not static.compiler_would_refuse
                     and (first is None or op.index < first))
    tpu_ops = sum(op.on_tpu for op in ops)
    graph_maps = first is None and not static.compiler_would_refuse
    compatible = graph_maps and not issues

    run = run_compiler(path, compiler_path, timeout=compiler_timeout) if compiler_path is not None else None
    if run is not None:
        _compiler_verdict(run, graph_maps, issues, warnings)
        compatible = compatible and run.ok
    verdict_basis = _verdict_basis(ops, first, compatible, static.issues, run is not None and not run.ok)

    return EdgeTpuReport(
        model_path=str(path),
        file_bytes=static.file_bytes,
        num_subgraphs=pm.num_subgraphs,
        inputs=[_tensor_info(pm.tensors[i]) for i in pm.inputs],
        outputs=[_tensor_info(pm.tensors[i]) for i in pm.outputs],
        ops=ops,
        first_unsupported_index=first,
        first_unsupported_op=ops[first].op if first is not None else None,
        num_ops=len(ops),
        tpu_ops=tpu_ops,
        tpu_share=tpu_ops / len(ops) if ops else 1.0,
        param_bytes=pm.param_bytes,
        param_budget_bytes=PARAM_BUDGET_BYTES,
        params_fit=pm.param_bytes <= PARAM_BUDGET_BYTES,
        graph_maps=graph_maps,
        compatible=compatible,
        issues=issues,
        warnings=warnings,
        compiler=run,
        compiler_note=note,
        verdict_unverified_rules=verdict_basis,
        unverified_rules=sorted({r for op in ops for r in op.unverified_rules} | set(verdict_basis)),
    )


def write_report(path: str | os.PathLike[str], out_json: str | os.PathLike[str],
                 compiler: str | os.PathLike[str] | None = "auto") -> EdgeTpuReport:
    """Check ``path`` and write the JSON report to ``out_json`` atomically."""
    report = check_model(path, compiler=compiler)
    out = Path(out_json)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(report.to_json() + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return report
