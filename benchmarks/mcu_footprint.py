"""What each setting costs a microcontroller: int8 file size, TFLM tensor arena, op list and PAD ops, for every
width x input size x padding convention, from an untrained export (neither depends on what the weights learnt, so
no training).

    python -m benchmarks.mcu_footprint [--arch slim_mobilenet] [--widths 0.35 0.5 0.75 1] [--sizes 65 81 96 97]
        [--conventions torchvision tf] [--work DIR]

Each setting is ``SlimMobileNet(width_mult=w, conventions=c)`` (or ``--arch mobilenet_v2``) at ``s`` px, seeded,
saved as a checkpoint and exported by
``export.to_tflite.export_checkpoint`` as a user's would be (calibration and parity on a few synthetic
images). The arena is TFLM's smallest working one, bisected on this 64-bit host. Accuracy is not measured
here: ``benchmarks.mcu_sweep`` cross-validates the settings worth training. Writes mcu_footprint.json/.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import torch

from data.preprocessing import PreprocessSpec
from export.to_tflite import export_checkpoint
from lightning_modules.checkpoint import LoadedClassifier
from lightning_modules.models import build_model, count_parameters

from .report import REPO, RESULTS, export_footprint, fits_microcontroller, markdown_table, write_results

EXPORT_CODE_FILE = "export_code.sha256"
COUNTS = {"train": 32, "val": 8, "test": 16}  # synthetic images: calibration and parity only


def untrained_checkpoint(width: float, size: int, path: Path, conventions: str = "torchvision",
                         arch: str = "slim_mobilenet") -> Path:
    """A seeded model of the setting whose every value is random, like a trained one's: with the initial zero
    biases and identity batch norms the converter shares identical buffers and the file comes out ~4 % small."""
    torch.manual_seed(0)
    kwargs = {"width_mult": width, "conventions": conventions}
    model = build_model(arch, **kwargs).eval()
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.is_floating_point():
                tensor.copy_(tensor + torch.rand_like(tensor) * 0.1)  # non-negative: running variances stay > 0
    data = {"source": "synthetic", "seed": 0, "synthetic_counts": COUNTS, "image_size": size}
    return LoadedClassifier(model, arch, kwargs, PreprocessSpec(input_size=size), data, path).save(path)


def export_code_version() -> str:
    """A hash of the export package's source: an export made by other export code is made again."""
    sources = sorted((REPO / "export").rglob("*.py"))
    return hashlib.sha256(b"".join(p.relative_to(REPO).as_posix().encode() + p.read_bytes() for p in sources)).hexdigest()


def made_by_todays_export(export: Path) -> bool:
    stamp = export / EXPORT_CODE_FILE
    return (export / "manifest.json").is_file() and stamp.is_file() and stamp.read_text() == export_code_version()


def setting_name(width: float, size: int, conventions: str = "torchvision", arch: str = "slim_mobilenet") -> str:
    """``w1_s96`` for the slim model in torchvision's conventions (the names of earlier results), else with
    ``_tf`` and/or an ``mnv2_`` prefix."""
    return f"{'mnv2_' if arch == 'mobilenet_v2' else ''}w{width:g}_s{size}{'_tf' if conventions == 'tf' else ''}"


def footprint(width: float, size: int, work: Path, conventions: str = "torchvision", arch: str = "slim_mobilenet") -> dict:
    """One setting's numbers; an export already in ``work`` (made by this function: seeded, so the same) is reused
    when today's export code made it."""
    name = setting_name(width, size, conventions, arch)
    export = work / name
    if not made_by_todays_export(export):
        export_checkpoint(untrained_checkpoint(width, size, work / f"{name}.ckpt", conventions, arch), export,
                          calib_samples=COUNTS["train"], force=True, min_int8_agreement=0.0)
        (export / EXPORT_CODE_FILE).write_text(export_code_version())
    return {"arch": arch, "width_mult": width, "input_size": size, "conventions": conventions,
            "parameters": count_parameters(build_model(arch, width_mult=width)),
            **export_footprint(export, latency=False)}


def table(results: dict) -> str:
    rows = [[r.get("arch", "slim_mobilenet"), f"{r['width_mult']:g}", r["input_size"], r.get("conventions", "torchvision"),
             f"{r['parameters']:,}", f"{r['int8_bytes'] / 1000:.0f} KB",
             f"{r['tflm_arena_bytes'] / 1000:.0f} KB" if r["tflm_arena_bytes"] else "–", r["ops"], r["pad_ops"],
             "yes" if fits_microcontroller(r) else "no"]
            for r in results.values()]
    return markdown_table(["model", "width", "input px", "conventions", "parameters", "int8 size",
                           "TFLM arena (64-bit host)", "ops", "PAD ops", "≤ 100 KB and ≤ 128 KB"], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mcu_footprint", description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="slim_mobilenet", choices=["slim_mobilenet", "mobilenet_v2"])
    parser.add_argument("--conventions", nargs="+", default=["torchvision"], choices=["torchvision", "tf"])
    parser.add_argument("--widths", type=float, nargs="+", default=[0.35, 0.5, 0.75, 1.0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[65, 81, 96, 97])
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "mcu_footprint")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    old = args.out / "mcu_footprint.json"
    results = json.loads(old.read_text()) if old.is_file() else {}  # other settings' rows are kept
    results.update({setting_name(w, s, c, args.arch): footprint(w, s, args.work, c, args.arch)
                    for w in args.widths for s in args.sizes for c in args.conventions})
    write_results(args.out, "mcu_footprint", results, table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
