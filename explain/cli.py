"""Explanation parity across the runtimes of one export directory.

    python -m explain --artifacts DIR (--images PATH... | --synthetic N [--synthetic-start I])
                      [--layer NAME] [--method gradcam|hirescam] [--quality]
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

``--layer`` (default: the model's default, see explain.layers) and ``--method`` choose PyTorch's map. At the last
layer every runtime makes the exact CAM; at an earlier one the int8 model is compared through occlusion, which
PyTorch runs alike. ``--quality`` adds, per runtime, a one-line verdict (faithful, localised, sanity check; each
naming its method: explain.verdict) to the output and to explain_parity.json. An image smaller than the chosen
map (fewer pixels than cells) is skipped and counted.

Exit status: 0 when at least one image was explained (undecodable images are skipped and counted),
1 when none could be, 2 for an unusable artifacts directory or arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from data.errors import EXIT_OK, CheckFailed, ToolchainError
from data.images import Images, expand_paths, load_images, safe_text
from data.preprocessing import PreprocessSpec

from .export_explainers import ExportExplainers, check_export, load_explainers
from .outputs import write_outputs
from .parity import TARGETS, explain_images, format_summary
from .synthetic_split import explain_synthetic
from .torch_gradcam import GRADIENT_METHODS

# At the last layer of a GAP + linear head, Grad-CAM = HiResCAM = CAM (FIELD_NOTES 5): their maps compare like with
# like (only there are they paired)
SAME_METHOD_FAMILY = {"gradcam", "hirescam", "cam"}


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
    parser.add_argument("--layer", help="the layer of PyTorch's map, e.g. features.5 (default: the model's; a wrong "
                        "name lists the valid ones)")
    parser.add_argument("--method", choices=GRADIENT_METHODS, help="PyTorch's map (default: the model's)")
    parser.add_argument("--quality", action="store_true",
                        help="also judge each runtime's maps: faithful, localised, sanity check (costs minutes)")
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
    runtimes = load_explainers(args.artifacts, saved_model=not args.no_saved_model, occlusion=args.occlusion,
                               layer=args.layer, method=args.method)
    print_notes(runtimes)
    if images is None:
        report, images = explain_synthetic(runtimes, args.synthetic, start=args.synthetic_start, target=args.target,
                                           quality=args.quality)
    else:
        images = without_too_small(images, runtimes.explainers[runtimes.reference].geometry.cells)
        report = explain_images(runtimes, images.pixels, boxes=images.boxes, target=args.target,
                                names=[str(p) for p in images.paths], quality=args.quality)
    report["summary"]["skipped_images"] = len(images.skipped)
    report["skipped"] = [{"path": path, "reason": reason} for path, reason in images.skipped]
    written = write_outputs(report, images.pixels, args.out, args.max_sheet)
    print(format_summary(report["summary"]))
    for block in (report.get("quality") or {}).get("runtimes", {}).values():
        print(block["verdict"])
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


def without_too_small(images: Images, cells: int) -> Images:
    """The images with at least as many pixels a side as the map has cells; the others become counted skips (their
    map's cells would be finer than their pixels)."""
    keep = [i for i, (w, h) in enumerate(images.source_sizes) if min(w, h) >= cells]
    small = [(safe_text(str(images.paths[i])), f"image {w}x{h} px is smaller than the {cells}x{cells} map: its cells "
              "would be finer than its pixels") for i, (w, h) in enumerate(images.source_sizes) if min(w, h) < cells]
    for _path, reason in small:
        print(f"skipped: {_path}: {reason}", file=sys.stderr)
    if not keep:
        raise CheckFailed(f"none of the {len(images)} readable image(s) is at least {cells} px a side")
    kept = images.subset(keep)
    kept.skipped = images.skipped + small
    return kept


def print_notes(runtimes: ExportExplainers) -> None:
    for name, explainer in runtimes.explainers.items():
        print(f"{name}: {explainer.note}")
    for note in runtimes.notes:
        print(note)
    for name, other in runtimes.pairs.items():
        methods = {runtimes.explainers[name].method, runtimes.explainers[other].method}
        if len(methods) > 1 and not methods <= SAME_METHOD_FAMILY:
            print(f"NOTE: the {name} map is {runtimes.explainers[name].method}, the {other} map "
                  f"{runtimes.explainers[other].method}: their parity compares two different methods")
