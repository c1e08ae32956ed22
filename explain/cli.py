"""Explanation parity across the runtimes of one export directory.

    python -m explain --artifacts DIR (--images PATH... | --synthetic N [--synthetic-start I])
                      [--out OUT] [--target predicted|helmet|no_helmet] [--no-saved-model] [--occlusion]
                      [--max-sheet N]

PATH may be image files or directories (searched recursively); head boxes come from the manifest of a
prepared dataset when the images lie in one. ``--synthetic N`` explains N images of the model's own
synthetic test split instead (head boxes known). OUT (default ``explain_out``) receives
``overlays/NNNN_<name>.png`` (original | PyTorch | SavedModel | int8, each titled with that runtime's
prediction), ``contact_sheet.png`` and ``explain_parity.json``.

``--target predicted`` explains the class PyTorch predicts in *every* runtime, so the maps are
comparable; whether each runtime predicted the same class is reported separately. ``helmet`` /
``no_helmet`` fix the explained class.

Exit status: 0 when at least one image was explained (undecodable images are skipped and counted),
1 when none could be, 2 for an unusable artifacts directory or arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from data.errors import EXIT_OK, CheckFailed, ToolchainError
from data.images import Images, expand_paths, load_images
from data.preprocessing import PreprocessSpec

from .export_explainers import ExportExplainers, check_export, load_explainers
from .outputs import write_outputs
from .parity import TARGETS, explain_images, format_summary
from .synthetic_split import explain_synthetic

# CAM is Grad-CAM for a GAP + linear head (FIELD_NOTES 5), so their maps compare like with like
SAME_METHOD_FAMILY = {"gradcam", "cam"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m explain", description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", required=True, type=Path, help="directory written by export/to_tflite.py")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", nargs="+", help="image files and/or directories of images")
    source.add_argument("--synthetic", type=int, metavar="N",
                        help="explain N images of the model's own synthetic test split (head boxes known)")
    parser.add_argument("--synthetic-start", type=int, metavar="I",
                        help="first synthetic index (default: the start of the model's test split)")
    parser.add_argument("--out", type=Path, default=Path("explain_out"), help="output directory (default: %(default)s)")
    parser.add_argument("--target", choices=TARGETS, default="predicted",
                        help="class to explain: PyTorch's prediction (default) or a fixed class")
    parser.add_argument("--no-saved-model", action="store_true", help="skip the SavedModel Grad-CAM panel")
    parser.add_argument("--occlusion", action="store_true",
                        help="use occlusion sensitivity on the int8 model even when it has a GAP + linear head")
    parser.add_argument("--max-sheet", type=int, default=64, help="images on the contact sheet (default 64)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.synthetic_start is not None and args.synthetic is None:
        parser.error("--synthetic-start needs --synthetic")
    if args.synthetic is not None and args.synthetic < 1:
        parser.error("--synthetic must be >= 1")
    try:
        run(args)
    except ToolchainError as e:
        print(f"error: {' '.join(str(e).splitlines())}", file=sys.stderr)
        return e.exit_code
    return EXIT_OK


def run(args: argparse.Namespace) -> None:
    spec = check_export(args.artifacts)  # before anything heavy is loaded
    images = None if args.synthetic is not None else read_images(args.images, spec)
    runtimes = load_explainers(args.artifacts, saved_model=not args.no_saved_model, occlusion=args.occlusion)
    print_notes(runtimes)
    if images is None:
        report, images = explain_synthetic(runtimes, args.synthetic, start=args.synthetic_start, target=args.target)
    else:
        report = explain_images(runtimes, images.pixels, boxes=images.boxes, target=args.target,
                                names=[str(p) for p in images.paths])
    report["summary"]["skipped_images"] = len(images.skipped)
    report["skipped"] = [{"path": path, "reason": reason} for path, reason in images.skipped]
    written = write_outputs(report, images.pixels, args.out, args.max_sheet)
    print(format_summary(report["summary"]))
    print(f"explained {len(images)} image(s), skipped {len(images.skipped)}; "
          f"wrote {len(written['overlays'])} overlays, {written['contact_sheet']}, {written['json']}")


def read_images(paths: list[str], spec: PreprocessSpec) -> Images:
    """Every readable image under ``paths``; skips are printed, and none readable is a failure (exit 1)."""
    images = load_images(expand_paths(paths), spec)
    for _path, reason in images.skipped:
        print(f"skipped: {reason}", file=sys.stderr)
    if not len(images):
        raise CheckFailed(f"none of the {len(images.skipped)} image path(s) could be read")
    return images


def print_notes(runtimes: ExportExplainers) -> None:
    reference = runtimes.explainers[runtimes.reference]
    for name, explainer in runtimes.explainers.items():
        print(f"{name}: {explainer.note}")
    for note in runtimes.notes:
        print(note)
    for name, explainer in runtimes.explainers.items():
        if explainer.method != reference.method and not {explainer.method, reference.method} <= SAME_METHOD_FAMILY:
            print(f"NOTE: the {name} map is {explainer.method}, the {runtimes.reference} map {reference.method}: "
                  "their parity compares two different methods")
