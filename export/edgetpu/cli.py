"""Command line: ``python -m export.edgetpu MODEL.tflite [--json] [--no-compiler] [--compiler PATH]``."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from data.errors import ToolchainError

from .check import check_model
from .compiler import COMPILER_NAME
from .report import render_table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m export.edgetpu",
        description="Check a .tflite model against the Coral Edge TPU requirements "
                    "(exit 0 compatible, 1 not compatible, 2 unreadable input).")
    parser.add_argument("model", help="path to the .tflite model")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--no-compiler", action="store_true",
                       help=f"do not run {COMPILER_NAME} even if it is on PATH")
    group.add_argument("--compiler", metavar="PATH",
                       help=f"run this edgetpu_compiler (default: {COMPILER_NAME} from PATH, if any)")
    args = parser.parse_args(argv)

    compiler: str | None = None if args.no_compiler else (args.compiler or "auto")
    try:
        report = check_model(args.model, compiler=compiler)
    except ToolchainError as exc:
        message = " ".join(str(exc).splitlines())  # one line, whatever the file name holds
        print(f"edgetpu: error: {message}", file=sys.stderr)
        return exc.exit_code
    print(report.to_json() if args.json else render_table(report))
    return 0 if report.compatible else 1
