"""Checkpoint -> ONNX -> SavedModel -> TFLite float32 + full-int8 for the Edge TPU and microcontrollers, then checks.

    python export/to_tflite.py --ckpt CKPT [--out DIR] [--data ROOT] [--calib-samples N]
                               [--io-type int8|uint8] [--per-tensor] [--split test] [--force]
                               [--min-int8-agreement 0.95]

First every format is written, each stage printing its time and size (``export.formats``); then one checking
pass (``export.checks``): logit differences of the float conversions, accuracy parity of every runtime and
int8 kernel set, TFLM against LiteRT's kernels, the Edge TPU check, and the manifest. DIR's files are listed
in ``export/layout.py``; DIR appears (or replaces the previous one, with --force) only when all are written.

Exit 0 when every check passed, 1 when a check ran and failed (not Edge TPU-mappable, TFLM lacks an op or is
more than a rounding step from LiteRT's reference kernels, int8 agreement with PyTorch under --min-int8-agreement: the
files are written all the same), 2 for bad input or usage (a missing checkpoint, bad settings, a full disk).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python export/to_tflite.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "export"  # noqa: A001

from data.errors import EXIT_OK, CheckFailed
from data.sources import SPLITS

from .artifacts import STAGE_SECONDS, staged_directory, write_json
from .checks import check_export
from .cli import positive_int, run_cli, share
from .formats import write_formats
from .inputs import DEFAULT_MIN_INT8_AGREEMENT, MIN_INT8_AGREEMENT_HELP, ExportSettings, load_inputs
from .layout import ExportDir
from .manifest import build_manifest
from .summary import print_export_summary
from .tflite_convert import IO_TYPES

log = logging.getLogger("export")


@dataclass
class ExportResult:
    out: Path
    manifest: dict
    parity: dict
    edgetpu: dict
    failed_checks: list[str] = field(default_factory=list)  # one sentence per failed check

    @property
    def passed(self) -> bool:
        return not self.failed_checks


def export_checkpoint(ckpt: Path, out: Path, data: str | None = None, calib_samples: int = 300,
                      io_type: str = "int8", per_tensor: bool = False, split: str = "test",
                      force: bool = False, min_int8_agreement: float = DEFAULT_MIN_INT8_AGREEMENT) -> ExportResult:
    """Write every format of ``ckpt`` into ``out``, then check them. A failed check does not raise: it is in
    ``failed_checks`` (and the manifest), and every file is written. Raises ToolchainError for bad input."""
    started = time.perf_counter()
    STAGE_SECONDS.clear()
    settings = ExportSettings(data, calib_samples, io_type, per_tensor, split, min_int8_agreement)
    out = Path(out).resolve()
    with staged_directory(out, force=force) as staging:
        inputs = load_inputs(ckpt, settings)
        export = ExportDir(staging)
        tflm = write_formats(inputs, settings, export)
        checked = check_export(inputs, settings, export, tflm)
        manifest = build_manifest(inputs, settings, export, checked)
        manifest["total_seconds"] = time.perf_counter() - started
        write_json(export.manifest, manifest)
    print_export_summary(checked.parity, manifest, checked.failures)
    log.info("exported to %s in %.1f s (Edge TPU compatible: %s)", out, manifest["total_seconds"],
             checked.edgetpu["compatible"])
    return ExportResult(out, manifest, checked.parity, checked.edgetpu, checked.failures)


def default_output_dir(ckpt: Path) -> Path:
    """``RUN/export`` for a checkpoint in ``RUN/checkpoints/``, else ``<ckpt stem>_export`` beside it."""
    ckpt = Path(ckpt)
    if ckpt.parent.name == "checkpoints":
        return ckpt.parent.parent / "export"
    return ckpt.with_name(f"{ckpt.stem}_export")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python export/to_tflite.py", description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True, type=Path, help="a checkpoint written by lightning_modules.fit")
    parser.add_argument("--out", type=Path, help="output directory (default: RUN/export for a checkpoint in "
                                                 "RUN/checkpoints/, else <checkpoint stem>_export beside it)")
    parser.add_argument("--data", help="data for calibration and parity (default: the checkpoint's own)")
    parser.add_argument("--calib-samples", type=positive_int, default=300, help="representative images (default 300)")
    parser.add_argument("--io-type", choices=IO_TYPES, default="int8", help="int8 model input/output type")
    parser.add_argument("--per-tensor", action="store_true", help="per-tensor instead of per-channel weights")
    parser.add_argument("--split", default="test", choices=SPLITS, help="parity split")
    parser.add_argument("--force", action="store_true", help="replace an existing output directory")
    parser.add_argument("--min-int8-agreement", type=share, default=DEFAULT_MIN_INT8_AGREEMENT,
                        help=MIN_INT8_AGREEMENT_HELP)
    return parser


def _export_command(args: argparse.Namespace) -> int:
    result = export_checkpoint(args.ckpt, args.out or default_output_dir(args.ckpt), args.data, args.calib_samples,
                               args.io_type, args.per_tensor, args.split, args.force, args.min_int8_agreement)
    print(f"artifacts: {result.out}")
    if result.failed_checks:
        raise CheckFailed(f"{len(result.failed_checks)} check(s) failed: {'; '.join(result.failed_checks)}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return run_cli(lambda: _export_command(args))


if __name__ == "__main__":
    sys.exit(main())
