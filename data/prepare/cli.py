"""Command line of ``python -m data.prepare`` (see the package docstring)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from data.duplicates import DEFAULT_MAX_DISTANCE
from data.errors import DataError, ToolchainError
from data.images import safe_text
from data.preprocessing import LABELS

from . import DEFAULT_MARGIN, DEFAULT_MIN_SIDE, prepare
from .datasets import Dataset, load_sources_file, parse_source

FORMATS = ("voc", "yolo", "coco")


def floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def parse_duplicate_distance(text: str) -> int | None:
    if text == "off":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of bits or 'off', got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m data.prepare",
                                description="Detection datasets (VOC, YOLO, COCO) -> head crops with a leak-free split.")
    one = p.add_argument_group("one dataset")
    one.add_argument("--format", choices=FORMATS, help="annotation format")
    one.add_argument("--root", type=Path, help="dataset root (VOC: images/ + annotations/; YOLO: data.yaml and/or "
                                               "images/ + labels/; COCO: annotations/instances*.json or "
                                               "*/_annotations.coco.json)")
    one.add_argument("--class-map", action="append", default=[], metavar="NAME=LABEL",
                     help=f"map an annotation class to one of {', '.join(LABELS)}; repeatable; overrides defaults")
    one.add_argument("--names", help="YOLO class names by id, comma-separated (default: ROOT/data.yaml)")
    several = p.add_argument_group("several datasets")
    several.add_argument("--source", action="append", default=[], metavar="[NAME=]FORMAT:ROOT",
                         help="a dataset; repeatable (its name defaults to the root folder's name)")
    several.add_argument("--training-only", action="append", default=[], metavar="NAME",
                         help="this --source only ever trains (never in val or test); repeatable")
    several.add_argument("--sources", type=Path, metavar="FILE", help="a YAML file listing the datasets")
    p.add_argument("--out", required=True, type=Path, help="output directory (must not exist or be empty)")
    p.add_argument("--margin", type=float, default=DEFAULT_MARGIN,
                   help="crop margin as a fraction of the box width/height on each side (default %(default)s)")
    p.add_argument("--offset", type=float, default=0.0,
                   help="move each crop window by a seeded random shift of up to this fraction of the box "
                        "width/height, so heads are off-centre; at most --margin (default 0: centred)")
    p.add_argument("--min-side", type=float, default=DEFAULT_MIN_SIDE,
                   help="drop boxes whose short side is under this many image pixels (default %(default)s)")
    p.add_argument("--split", type=floats, default=[0.7, 0.1, 0.2], help="train,val,test fractions (default 0.7,0.1,0.2)")
    p.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    p.add_argument("--duplicate-distance", type=parse_duplicate_distance, default=DEFAULT_MAX_DISTANCE,
                   help="photos whose perceptual hashes differ in at most this many of 64 bits are copies and "
                        "share a split; 'off' splits every photo on its own (default %(default)s)")
    p.add_argument("--folds", type=int, help="cross-validation: split the photos into this many test folds; "
                                             "--split's train:val ratio divides the other folds")
    p.add_argument("--fold", type=int, default=0, help="with --folds: which fold is the test split (default 0)")
    p.add_argument("--force", action="store_true", help="replace an existing output written by an earlier run")
    return p


def datasets_from(args: argparse.Namespace) -> list[Dataset]:
    """The datasets named by exactly one of --format/--root, --source, --sources."""
    given = [bool(args.format or args.root), bool(args.source), args.sources is not None]
    if sum(given) != 1:
        raise DataError("name the data with --format and --root, or with --source (repeatable), or with --sources FILE")
    if args.sources is not None:
        return load_sources_file(args.sources)
    if args.source:
        datasets = [parse_source(entry, args.training_only) for entry in args.source]
        unknown = set(args.training_only) - {d.name for d in datasets}
        if unknown:
            raise DataError(f"--training-only {sorted(unknown)}: no --source has that name")
        return datasets
    if not (args.format and args.root):
        raise DataError("--format and --root go together")
    try:
        mapping = dict(entry.rsplit("=", 1) for entry in args.class_map)
    except ValueError:
        raise DataError(f"--class-map entries must look like 'NAME=LABEL', got {args.class_map}") from None
    names = tuple(n.strip() for n in args.names.split(",")) if args.names is not None else None
    return [Dataset(args.format, args.root, class_map={k.strip(): v.strip() for k, v in mapping.items()}, names=names)]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.folds is None and args.fold != 0:
            raise DataError("--fold needs --folds")
        report = prepare(datasets_from(args), args.out, margin=args.margin, min_side=args.min_side,
                         fractions=args.split, seed=args.seed, force=args.force, offset=args.offset,
                         folds=args.folds, fold=args.fold, duplicate_distance=args.duplicate_distance)
    except ToolchainError as e:
        print(f"error: {safe_text(str(e))}", file=sys.stderr)
        return e.exit_code
    print(report.summary())
    return 0

