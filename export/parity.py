"""Cross-runtime parity: every format, and the int8 model under three sets of kernels, on the same images.

``python -m export.parity --artifacts DIR [--data ROOT|synthetic] [--split test] [--limit N] [--out FILE]
[--min-int8-agreement 0.95]``

Exit 0 when the checks pass, 1 when one fails (TFLM lacks an op or is more than a rounding step from LiteRT's
reference kernels, or an int8 row agrees with PyTorch below the bound), 2 for bad input.

The report (parity.json)::

    images, class_counts, skipped_images, data, split
    artifacts: {row: {accuracy, balanced_accuracy, agreement_with_pytorch, mean_abs_prob_diff, max_abs_prob_diff,
                      logit_cosine_mean, logit_cosine_min, bytes, ms_per_image, kernels,
                      accuracy_drop_pp, balanced_accuracy_drop_pp (int8 rows)}}
    int8_accuracy_drop_pp, int8_balanced_accuracy_drop_pp: of int8_accuracy_drop_row (tflite_int8)
    per_image: {paths, labels, predicted: {row: [class, ...]}, datasets (when known)}
    tflm: export.tflm_check.tflm_report (ops, unsupported_ops, tensor_arena_bytes and its note, and TFLM vs
          LiteRT's reference and default kernels: exact_match_rate, max_abs_diff_steps, top1_agreement)
    per_dataset (when known): {dataset: {images, class_counts, artifacts: {row: {accuracy, balanced_accuracy}}}}

Rows (``ROW_KERNELS`` says what computed each): pytorch, onnx, saved_model, tflite_float32, and three int8 rows
that run the same int8 model: ``tflite_int8`` (LiteRT's default path, XNNPACK), ``tflite_int8_ref`` (LiteRT's
reference kernels: the row that predicts a microcontroller) and ``tflm`` (TFLM's own interpreter). When the
images come from a prepared set whose manifest names each crop's dataset, ``per_dataset`` gives accuracy and
balanced accuracy (mean recall over the classes that dataset has) per dataset and row.
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

from data.errors import EXIT_OK, CheckFailed
from data.images import Images
from data.preprocessing import PreprocessSpec
from data.sources import SPLITS, load_labelled
from lightning_modules.checkpoint import load_classifier

from .artifacts import path_bytes, write_json
from .cli import positive_int, run_cli, share
from .inputs import DEFAULT_MIN_INT8_AGREEMENT, MIN_INT8_AGREEMENT_HELP
from .layout import INT8_ROWS, PARITY_FILE, ExportDir
from .runtimes import OnnxRunner, SavedModelRunner, TFLiteRunner, TorchRunner, softmax
from .summary import print_parity
from .tflm import TFLMRunner
from .tflm_check import TFLMFacts, measure_tflm, tflm_report
from .verdicts import parity_failures

ROW_KERNELS = {
    "pytorch": "PyTorch, CPU",
    "onnx": "onnxruntime, CPUExecutionProvider",
    "saved_model": "TensorFlow, CPU",
    "tflite_float32": "LiteRT default kernels (XNNPACK)",
    "tflite_int8": "LiteRT default kernels (XNNPACK)",
    "tflite_int8_ref": "LiteRT reference kernels (BUILTIN_REF)",
    "tflm": "TFLM interpreter (tflite-micro)",
}
UNKNOWN_DATASET = "unknown"


def runners_for(export: ExportDir, spec: PreprocessSpec, tflm: TFLMFacts, model: torch.nn.Module | None = None) -> dict:
    """A runner per parity row; ``model`` is the PyTorch reference (default: model.pt). TFLM runs in exactly the
    smallest arena measured, so a parity run also proves that arena is enough on every image."""
    export.require()
    runners = {
        "pytorch": TorchRunner(model if model is not None else load_classifier(export.pytorch).model, spec),
        "onnx": OnnxRunner(export.onnx, spec),
        "saved_model": SavedModelRunner(export.saved_model, spec),
        "tflite_float32": TFLiteRunner(export.float32, spec),
        "tflite_int8": TFLiteRunner(export.int8, spec),
        "tflite_int8_ref": TFLiteRunner(export.int8, spec, op_resolver="builtin_ref", name="tflite_int8_ref"),
    }
    if tflm.runs:
        runners["tflm"] = TFLMRunner(export.int8, spec, arena_bytes=tflm.arena_bytes)
    return runners


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


def accuracies(predicted: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy and balanced accuracy, the mean recall over the classes ``labels`` holds (so a dataset of one
    class is not scored on a class it does not have)."""
    recalls = [float((predicted[labels == c] == c).mean()) for c in np.unique(labels)]
    return {"accuracy": float((predicted == labels).mean()), "balanced_accuracy": float(np.mean(recalls))}


def per_dataset(images: Images, logits: dict[str, np.ndarray]) -> dict:
    names = np.array([name or UNKNOWN_DATASET for name in images.datasets])
    report = {}
    for name in sorted(set(names)):
        members = np.flatnonzero(names == name)
        labels = images.labels[members]
        report[str(name)] = {
            "images": len(members),
            "class_counts": images.subset(members).class_counts(),
            "artifacts": {row: accuracies(rows_logits[members].argmax(1), labels) for row, rows_logits in logits.items()},
        }
    return report


def _run_all(runners: dict, pixels: np.ndarray) -> tuple[dict, dict]:
    logits, seconds = {}, {}
    for name, runner in runners.items():
        start = time.perf_counter()
        logits[name] = runner.logits(pixels)
        seconds[name] = time.perf_counter() - start
    return logits, seconds


def _rows(export: ExportDir, logits: dict, seconds: dict, labels: np.ndarray) -> dict:
    reference, rows = logits["pytorch"], {}
    for name in logits:
        rows[name] = compare(reference, logits[name], labels)
        rows[name].update(bytes=path_bytes(export.row_file(name)), ms_per_image=1000 * seconds[name] / len(labels),
                          kernels=ROW_KERNELS[name])
        if name in INT8_ROWS:
            rows[name].update({f"{k}_drop_pp": 100 * (rows["pytorch"][k] - rows[name][k])
                               for k in ("accuracy", "balanced_accuracy")})
    return rows


def run_parity(artifacts: Path, images: Images, spec: PreprocessSpec, runners: dict | None = None,
               tflm: TFLMFacts | None = None) -> dict:
    export = ExportDir(artifacts)
    tflm = tflm or measure_tflm(export.int8)
    runners = runners or runners_for(export, spec, tflm)
    logits, seconds = _run_all(runners, images.pixels)
    rows = _rows(export, logits, seconds, images.labels)
    per_image = {"paths": [str(p) for p in images.paths], "labels": images.labels.tolist(),
                 "predicted": {name: l.argmax(1).tolist() for name, l in logits.items()}}
    report = {
        "images": len(images),
        "per_image": {**per_image, "datasets": list(images.datasets)} if images.datasets else per_image,
        "class_counts": images.class_counts(),
        "skipped_images": len(images.skipped),
        "artifacts": rows,
        "int8_accuracy_drop_row": "tflite_int8",
        "int8_accuracy_drop_pp": rows["tflite_int8"]["accuracy_drop_pp"],
        "int8_balanced_accuracy_drop_pp": rows["tflite_int8"]["balanced_accuracy_drop_pp"],
        "tflm": tflm_report(tflm, logits, runners["tflite_int8"].output["quantization"][0]),
    }
    if images.datasets:
        report["per_dataset"] = per_dataset(images, logits)
    return report


def parity_for_directory(artifacts: Path, data: str | None = None, split: str = "test",
                         limit: int | None = None) -> dict:
    export = ExportDir(artifacts).require()
    loaded = load_classifier(export.pytorch)
    spec = export.load_spec()
    source = data or loaded.data_source
    images = load_labelled(source, split, spec, loaded.data.get("seed", 0), loaded.data.get("synthetic_counts"))
    if limit:
        images = images.subset(range(min(limit, len(images))))
    tflm = measure_tflm(export.int8)
    report = run_parity(export.root, images, spec, runners_for(export, spec, tflm, loaded.model), tflm)
    report.update({"data": source, "split": split})
    return report


def _parity_command(args: argparse.Namespace) -> int:
    report = parity_for_directory(args.artifacts, args.data, args.split, args.limit)
    print_parity(report)
    out = write_json(args.out or ExportDir(args.artifacts).parity, report)
    print(f"wrote {out}")
    failures = parity_failures(report, args.min_int8_agreement)
    if failures:
        raise CheckFailed("; ".join(failures))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.parity", description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", required=True, type=Path, help="directory written by export/to_tflite.py")
    parser.add_argument("--data", help="'synthetic', a split root, or a flat helmet/ no_helmet/ folder "
                                       "(default: the data the model was trained on)")
    parser.add_argument("--split", default="test", choices=SPLITS)
    parser.add_argument("--limit", type=positive_int, help="evaluate only the first N images")
    parser.add_argument("--out", type=Path, help=f"write the JSON report here (default: ARTIFACTS/{PARITY_FILE})")
    parser.add_argument("--min-int8-agreement", type=share, default=DEFAULT_MIN_INT8_AGREEMENT,
                        help=MIN_INT8_AGREEMENT_HELP)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return run_cli(lambda: _parity_command(args))


if __name__ == "__main__":
    sys.exit(main())
