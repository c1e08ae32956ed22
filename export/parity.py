"""Cross-framework parity: PyTorch, ONNX, SavedModel, TFLite float32 and TFLite int8 on the same images.

``python -m export.parity --artifacts DIR [--data ROOT|synthetic] [--split test] [--out FILE]``
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional.classification import multiclass_accuracy

from data.preprocessing import PreprocessSpec
from data.images import Images
from data.sources import DataError, load_labelled
from lightning_modules.checkpoint import CheckpointError, load_classifier

from .artifacts import path_bytes, write_json
from .layout import ARTIFACT_FILES, PYTORCH_FILE
from .runtimes import OnnxRunner, SavedModelRunner, TFLiteRunner, TorchRunner, softmax



def runners_for(artifacts: Path, spec: PreprocessSpec) -> dict:
    artifacts = Path(artifacts)
    missing = [f for f in ARTIFACT_FILES.values() if not (artifacts / f).exists()]
    if missing:
        raise FileNotFoundError(f"{artifacts} lacks {missing}: not a complete export directory")
    return {
        "pytorch": TorchRunner(load_classifier(artifacts / PYTORCH_FILE).model, spec),
        "onnx": OnnxRunner(artifacts / ARTIFACT_FILES["onnx"], spec),
        "saved_model": SavedModelRunner(artifacts / ARTIFACT_FILES["saved_model"], spec),
        "tflite_float32": TFLiteRunner(artifacts / ARTIFACT_FILES["tflite_float32"], spec),
        "tflite_int8": TFLiteRunner(artifacts / ARTIFACT_FILES["tflite_int8"], spec),
    }


def compare(reference_logits: np.ndarray, logits: np.ndarray, labels: np.ndarray) -> dict:
    num_classes = logits.shape[1]
    preds, target = torch.from_numpy(logits.argmax(1)), torch.from_numpy(labels)
    ref_p, p = softmax(reference_logits), softmax(logits)
    cosine = (reference_logits * logits).sum(1) / (
        np.linalg.norm(reference_logits, axis=1) * np.linalg.norm(logits, axis=1) + 1e-12)
    return {
        "accuracy": float(multiclass_accuracy(preds, target, num_classes, average="micro")),
        "balanced_accuracy": float(multiclass_accuracy(preds, target, num_classes, average="macro")),
        "agreement_with_pytorch": float((logits.argmax(1) == reference_logits.argmax(1)).mean()),
        "mean_abs_prob_diff": float(np.abs(p - ref_p).max(1).mean()),
        "max_abs_prob_diff": float(np.abs(p - ref_p).max()),
        "logit_cosine_mean": float(cosine.mean()),
        "logit_cosine_min": float(cosine.min()),
    }


def run_parity(artifacts: Path, images: Images, spec: PreprocessSpec, runners: dict | None = None) -> dict:
    runners = runners or runners_for(artifacts, spec)
    logits, seconds = {}, {}
    for name, runner in runners.items():
        start = time.perf_counter()
        logits[name] = runner.logits(images.pixels)
        seconds[name] = time.perf_counter() - start
    reference = logits["pytorch"]
    rows = {}
    for name in runners:
        rows[name] = compare(reference, logits[name], images.labels)
        rows[name]["bytes"] = path_bytes(Path(artifacts) / ARTIFACT_FILES[name])
        rows[name]["ms_per_image"] = 1000 * seconds[name] / len(images)
    int8, torch_row = rows["tflite_int8"], rows["pytorch"]
    return {
        "images": len(images),
        "per_image": {"paths": [str(p) for p in images.paths], "labels": images.labels.tolist(),
                      "predicted": {name: l.argmax(1).tolist() for name, l in logits.items()}},
        "class_counts": images.class_counts(),
        "skipped_images": len(images.skipped),
        "artifacts": rows,
        "int8_accuracy_drop_pp": 100 * (torch_row["accuracy"] - int8["accuracy"]),
        "int8_balanced_accuracy_drop_pp": 100 * (torch_row["balanced_accuracy"] - int8["balanced_accuracy"]),
    }


def format_table(report: dict) -> str:
    header = f"{'artifact':<16}{'acc':>8}{'bal_acc':>9}{'agree':>8}{'|dp|':>9}{'cos_min':>9}{'size':>12}{'ms/img':>8}"
    lines = [header, "-" * len(header)]
    for name, r in report["artifacts"].items():
        lines.append(f"{name:<16}{r['accuracy']:>8.4f}{r['balanced_accuracy']:>9.4f}{r['agreement_with_pytorch']:>8.4f}"
                     f"{r['mean_abs_prob_diff']:>9.5f}{r['logit_cosine_min']:>9.4f}{r['bytes']:>12,}{r['ms_per_image']:>8.2f}")
    lines.append(f"{report['images']} images {report['class_counts']}; int8 accuracy drop "
                 f"{report['int8_accuracy_drop_pp']:+.2f} pp, balanced {report['int8_balanced_accuracy_drop_pp']:+.2f} pp")
    return "\n".join(lines)


def parity_for_directory(artifacts: Path, data: str | None = None, split: str = "test",
                         limit: int | None = None) -> dict:
    artifacts = Path(artifacts)
    loaded = load_classifier(artifacts / PYTORCH_FILE)
    spec = PreprocessSpec.load(artifacts)
    source = data or loaded.data_source
    images = load_labelled(source, split, spec, loaded.data.get("seed", 0), loaded.data.get("synthetic_counts"))
    if limit:
        images = images.subset(range(min(limit, len(images))))
    report = run_parity(artifacts, images, spec)
    report.update({"data": source, "split": split})
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.parity", description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", required=True, type=Path, help="directory written by export/to_tflite.py")
    parser.add_argument("--data", help="'synthetic', a split root, or a flat helmet/ no_helmet/ folder "
                                       "(default: the data the model was trained on)")
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument("--limit", type=int, help="evaluate only the first N images")
    parser.add_argument("--out", type=Path, help="write the JSON report here (default: ARTIFACTS/parity.json)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        report = parity_for_directory(args.artifacts, args.data, args.split, args.limit)
    except (FileNotFoundError, CheckpointError, DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_table(report))
    out = write_json(args.out or args.artifacts / "parity.json", report)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
