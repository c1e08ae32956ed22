"""What an export or a parity run prints: rich tables of the parity rows (and per dataset), the TFLM figures,
the checks' verdicts."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

PIPE_WIDTH = 140  # a pipe or a log file has no width of its own: wide enough that no cell wraps
TFLM_COMPARISONS = (("vs_litert_reference", "LiteRT reference kernels"), ("vs_litert_default", "LiteRT default (XNNPACK)"))
PARITY_COLUMNS = ("acc", "bal_acc", "agree", "|dp|", "cos_min", "bytes", "ms/img")


def _console() -> Console:
    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, width=PIPE_WIDTH)


def parity_table(report: dict) -> Table:
    table = Table(title=f"parity on {report['images']} images {report['class_counts']}", title_justify="left")
    table.add_column("runtime", no_wrap=True)
    for column in PARITY_COLUMNS:
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("kernels")
    for name, r in report["artifacts"].items():
        table.add_row(name, f"{r['accuracy']:.4f}", f"{r['balanced_accuracy']:.4f}", f"{r['agreement_with_pytorch']:.4f}",
                      f"{r['mean_abs_prob_diff']:.5f}", f"{r['logit_cosine_min']:.4f}", f"{r['bytes']:,}",
                      f"{r['ms_per_image']:.2f}", r["kernels"])
    return table


def per_dataset_table(per_dataset: dict) -> Table:
    table = Table(title="per dataset: accuracy / balanced accuracy", title_justify="left")
    table.add_column("runtime", no_wrap=True)
    for name, block in per_dataset.items():
        table.add_column(escape(f"{name} ({block['images']})"), justify="right", no_wrap=True)
    for row in next(iter(per_dataset.values()))["artifacts"]:
        figures = [block["artifacts"][row] for block in per_dataset.values()]
        table.add_row(row, *(f"{f['accuracy']:.4f} / {f['balanced_accuracy']:.4f}" for f in figures))
    return table


def tflm_lines(tflm: dict) -> list[str]:
    lines = [f"TFLM {tflm['version']}: ops {', '.join(tflm['ops'])}"]
    if tflm["unsupported_ops"]:
        return lines + [f"  no kernel for {', '.join(tflm['unsupported_ops'])}: no tflm row, no C array"]
    lines.append(f"  smallest tensor arena {tflm['tensor_arena_bytes']:,} bytes (64-bit host, reference kernels: a "
                 "32-bit MCU needs a little less, CMSIS-NN adds scratch buffers)")
    for key, label in TFLM_COMPARISONS:
        c = tflm[key]
        target = f"; target {c['target']}: {'met' if c['bit_exact'] else 'MISSED'}" if c["target"] else ""
        lines.append(f"  vs {label}: {c['exact_match_rate']:.1%} of {c['images']} images bit-exact, at most "
                     f"{c['max_abs_diff_steps']} step(s) apart, top-1 agreement {c['top1_agreement']:.1%}{target}")
    return lines


def print_parity(report: dict, console: Console | None = None) -> None:
    console = console or _console()
    console.print(parity_table(report))
    if "per_dataset" in report:
        console.print(per_dataset_table(report["per_dataset"]))
    console.print(f"int8 accuracy drop ({report['int8_accuracy_drop_row']}) {report['int8_accuracy_drop_pp']:+.2f} pp, "
                  f"balanced {report['int8_balanced_accuracy_drop_pp']:+.2f} pp", markup=False)
    for line in tflm_lines(report["tflm"]):
        console.print(line, markup=False)


def print_export_summary(parity: dict, manifest: dict, failures: list[str]) -> None:
    console = _console()
    print_parity(parity, console)
    checks, edgetpu = manifest["checks"], manifest["edgetpu"]
    console.print(f"max |logit diff|: ONNX vs PyTorch {checks['onnx_vs_pytorch_max_abs_logit_diff']:.2e}, "
                  f"SavedModel vs ONNX {checks['saved_model_vs_onnx_max_abs_logit_diff']:.2e}", markup=False)
    console.print(f"Edge TPU: {'compatible' if edgetpu['compatible'] else 'NOT compatible'}, {edgetpu['tpu_ops']} of "
                  f"{edgetpu['num_ops']} ops on the TPU", markup=False)
    for failure in failures:
        console.print(f"check failed: {failure}", markup=False)
    if not failures:
        console.print("checks: all passed", markup=False)
