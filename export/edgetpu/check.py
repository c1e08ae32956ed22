"""The static check, folded together with an optional compiler run."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .compiler import COMPILER_NAME, run_compiler
from .errors import CompilerNotFoundError
from .flatbuffer import _ParsedModel, _Tensor, read_model
from .report import EdgeTpuReport, OpReport, TensorInfo, _format_bytes
from .rules import (
    COMPILER_MAJOR_VERSION,
    EDGETPU_OPS,
    PARAM_BUDGET_BYTES,
    PARAM_WARN_BYTES,
    TFLITE_2_5_MAX_VERSION,
    _ACTIVATION_DTYPES,
    _OpView,
    _tensor_reasons,
)


def _tensor_info(t: _Tensor) -> TensorInfo:
    return TensorInfo(t.index, t.name, t.dtype, list(t.shape), list(t.signature),
                      list(t.scale), list(t.zero_point), t.quantized_dimension)


@dataclass
class _StaticResult:
    file_bytes: int
    model: _ParsedModel
    ops: list[OpReport]
    issues: list[str]
    warnings: list[str]
    compiler_would_refuse: bool  # too-new op versions or no quantization at all


def _static_check(path: Path) -> _StaticResult:
    data, pm = read_model(path)
    tensors = pm.tensors
    reports: list[OpReport] = []
    parse_blockers: list[str] = []

    for index, (name, version, custom, options, ins, outs) in enumerate(pm.ops):
        reasons: list[str] = []
        if custom is not None:
            kind = "Flex" if custom.startswith("Flex") else "custom"
            reasons.append(f"Flex/custom op: {kind} op '{custom}' cannot run on the Edge TPU")
        else:
            rule = EDGETPU_OPS.get(name)
            if rule is None:
                reasons.append(f"unsupported op: {name} is not on the Edge TPU operation list")
            # The version check applies to every op: compiler 16 has to parse the
            # whole model, including the ops it would leave on the CPU.
            known = rule.max_version if rule is not None else TFLITE_2_5_MAX_VERSION.get(name)
            if known is None:
                reasons.append(f"op {name} is unknown to compiler {COMPILER_MAJOR_VERSION} (newer than TFLite 2.5)")
                parse_blockers.append(f"op #{index} {name} v{version}")
            elif version > known:
                reasons.append(f"op version {version} newer than compiler {COMPILER_MAJOR_VERSION} knows (max {known})")
                parse_blockers.append(f"op #{index} {name} v{version}")
            if rule is not None and rule.check is not None:
                view = _OpView(name, options,
                               [tensors[i] if i >= 0 else None for i in ins],
                               [tensors[i] for i in outs if i >= 0])
                reasons.extend(rule.check(view))
        seen = set()
        for i in ins + outs:
            if i >= 0 and i not in seen:
                seen.add(i)
                reasons.extend(_tensor_reasons(tensors[i]))
        reports.append(OpReport(index, name, version, mapped=not reasons, on_tpu=False,
                                reasons=reasons, custom_code=custom))

    issues: list[str] = []
    warnings: list[str] = []
    if parse_blockers:
        issues.append(
            f"edgetpu_compiler {COMPILER_MAJOR_VERSION} cannot parse this model "
            f"(\"Didn't find op for builtin opcode\"): {', '.join(parse_blockers)}")
    activations = [t for t in tensors if not t.is_const]
    not_quantized = bool(activations) and not any(t.dtype in _ACTIVATION_DTYPES for t in activations)
    if not_quantized:
        issues.append("Model not quantized: no int8/uint8 activation tensors "
                      "(needs full-integer post-training quantization or QAT)")
    if pm.num_subgraphs > 1:
        issues.append(f"{pm.num_subgraphs} subgraphs: the Edge TPU compiler supports only one "
                      "(control flow such as WHILE/IF creates more)")
    for i in pm.inputs:
        t = tensors[i]
        if any(d < 0 for d in t.signature):
            issues.append(f"input {t.name} has a dynamic shape {t.signature}: "
                          "convert with static shapes and batch size 1")
        elif t.rank >= 2 and t.shape[0] != 1:
            issues.append(f"input {t.name} has batch size {t.shape[0]} (the Edge TPU needs batch 1)")
    if pm.param_bytes > PARAM_BUDGET_BYTES:
        issues.append(f"parameters take {_format_bytes(pm.param_bytes)}, more than the "
                      f"~{_format_bytes(PARAM_BUDGET_BYTES)} of on-chip memory")
    elif pm.param_bytes > PARAM_WARN_BYTES:
        warnings.append(f"parameters take {_format_bytes(pm.param_bytes)}: compiler 16 caches about "
                        "7 MiB on chip and streams the rest from host memory (slower)")
    return _StaticResult(len(data), pm, reports, issues, warnings,
                         compiler_would_refuse=bool(parse_blockers) or not_quantized)


def check_model(path: str | os.PathLike[str], compiler: str | os.PathLike[str] | None = "auto",
                compiler_timeout: float = 600.0) -> EdgeTpuReport:
    """Check ``path`` against the Edge TPU requirements.

    ``compiler``: ``"auto"`` runs ``edgetpu_compiler`` when it is on PATH,
    ``None`` skips it, anything else is the compiler executable to run.

    Raises ``InvalidModelError`` (a ``ValueError``; ``ModelNotFoundError`` for a
    missing file) when the file cannot be read as a TFLite model, and
    ``CompilerNotFoundError`` when an explicit compiler path does not exist.
    """
    path = Path(path)
    compiler_path: str | None = None
    if compiler is None:
        note = "not run (disabled)"
    elif str(compiler) == "auto":
        compiler_path = shutil.which(COMPILER_NAME)
        note = f"ran {compiler_path}" if compiler_path else f"not run ({COMPILER_NAME} not on PATH)"
    else:
        compiler_path = shutil.which(str(compiler)) or (str(compiler) if Path(compiler).is_file() else None)
        if compiler_path is None:
            raise CompilerNotFoundError(f"edgetpu compiler not found: {compiler}")
        note = f"ran {compiler_path}"

    static = _static_check(path)
    pm, ops, issues, warnings = static.model, static.ops, static.issues, static.warnings

    # Partitioning: the first op that cannot be mapped and everything after it
    # run on the CPU. A model the compiler refuses runs entirely on the CPU.
    first = next((op.index for op in ops if not op.mapped), None)
    for op in ops:
        op.on_tpu = (op.mapped and not static.compiler_would_refuse
                     and (first is None or op.index < first))
    tpu_ops = sum(op.on_tpu for op in ops)
    graph_maps = first is None and not static.compiler_would_refuse
    params_fit = pm.param_bytes <= PARAM_BUDGET_BYTES
    compatible = graph_maps and not issues

    run = None
    if compiler_path is not None:
        run = run_compiler(path, compiler_path, timeout=compiler_timeout)
        if not run.ok:
            compatible = False
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
        params_fit=params_fit,
        graph_maps=graph_maps,
        compatible=compatible,
        issues=issues,
        warnings=warnings,
        compiler=run,
        compiler_note=note,
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
