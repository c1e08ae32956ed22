"""Grad-CAM parity across runtimes: PyTorch (Captum) vs int8 TFLite (exact CAM) vs SavedModel (GradientTape).

    python -m explain.gradcam --artifacts DIR --images PATH... [--out OUT]
                              [--target predicted|helmet|no_helmet] [--no-saved-model] [--occlusion]

PATH may be image files or directories (searched recursively). OUT (default ``explain_out``)
receives ``overlays/NNNN_<name>.png`` (original | PyTorch | SavedModel | int8, each titled with that
runtime's prediction), ``contact_sheet.png`` and ``explain_parity.json``.

``--target predicted`` explains the class PyTorch predicts in *every* runtime, so the maps are
comparable; whether int8 predicted the same class is reported separately. ``helmet`` /
``no_helmet`` fix the explained class.

Exit status: 0 when at least one image was explained (undecodable images are skipped and
counted), 1 when none could be, 2 for an unusable artifacts directory or arguments.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from data.preprocessing import LABELS, PreprocessSpec
from export.layout import ARTIFACT_FILES, PYTORCH_FILE
from export.runtimes import softmax
from lightning_modules.checkpoint import CheckpointError, LoadedClassifier, load_classifier

from . import metrics
from .render import render_contact_sheet, render_overlay
from .savedmodel_gradcam import SavedModelGradCam, SavedModelGradCamError
from .tflite_cam import TFLiteCam
from .torch_gradcam import torch_gradcam, torch_logits, upsample

TARGETS = ("predicted", *LABELS)
PAIRS = {"pytorch_vs_tflite_int8": "tflite_int8", "pytorch_vs_saved_model": "saved_model"}
JSON_NAME = "explain_parity.json"
CONTACT_SHEET = "contact_sheet.png"
TORCH_BATCH = 32


class ArtifactsError(FileNotFoundError):
    """An artifacts directory that cannot be explained (missing or unreadable files)."""


@dataclass
class Runtimes:
    """Everything loaded once per artifacts directory."""

    artifacts: Path
    spec: PreprocessSpec
    loaded: LoadedClassifier
    int8: TFLiteCam
    saved_model: SavedModelGradCam | None
    notes: list[str] = field(default_factory=list)

    @property
    def methods(self) -> dict[str, str]:
        m = {"pytorch": "gradcam", "tflite_int8": self.int8.method}
        if self.saved_model is not None:
            m["saved_model"] = "gradcam"
        return m


def check_artifacts(artifacts: str | Path) -> PreprocessSpec:
    """Cheap checks before anything heavy is loaded: the required files exist; returns the spec."""
    artifacts = Path(artifacts)
    if not artifacts.is_dir():
        raise ArtifactsError(f"artifacts directory not found: {artifacts}")
    required = [PYTORCH_FILE, ARTIFACT_FILES["tflite_int8"], "preprocess.json"]
    missing = [f for f in required if not (artifacts / f).is_file()]
    if missing:
        raise ArtifactsError(f"{artifacts} lacks {', '.join(missing)}: export the checkpoint with "
                             "export/to_tflite.py first (the int8 map needs model_int8.tflite)")
    try:
        return PreprocessSpec.load(artifacts)
    except (ValueError, FileNotFoundError) as e:
        raise ArtifactsError(str(e)) from e


def load_runtimes(artifacts: str | Path, saved_model: bool = True, force_occlusion: bool = False) -> Runtimes:
    """Load PyTorch + int8 TFLite (required) and the SavedModel (optional: skipped with a note)."""
    artifacts = Path(artifacts)
    spec = check_artifacts(artifacts)
    try:
        loaded = load_classifier(artifacts / PYTORCH_FILE)
    except CheckpointError as e:
        raise ArtifactsError(str(e)) from e
    if loaded.spec.input_size != spec.input_size:
        raise ArtifactsError(f"{artifacts}: model.pt was trained at {loaded.spec.input_size} px but "
                             f"preprocess.json says {spec.input_size} px")
    notes = []
    try:
        int8 = TFLiteCam(artifacts / ARTIFACT_FILES["tflite_int8"], spec, force_occlusion=force_occlusion)
    except (ValueError, OSError, RuntimeError) as e:
        raise ArtifactsError(f"cannot use {artifacts / ARTIFACT_FILES['tflite_int8']}: {e}") from e
    notes.append(f"tflite_int8: {int8.note}")
    sm = None
    sm_path = artifacts / ARTIFACT_FILES["saved_model"]
    if saved_model and sm_path.is_dir():
        try:
            sm = SavedModelGradCam(sm_path)
            notes.append(f"saved_model: {sm.note}")
        except (SavedModelGradCamError, OSError, ValueError) as e:
            notes.append(f"saved_model: not explained ({e})")
    elif saved_model:
        notes.append(f"saved_model: not explained ({sm_path} missing)")
    return Runtimes(artifacts, spec, loaded, int8, sm, notes)


def _targets(target: str, torch_pred: np.ndarray) -> np.ndarray:
    if target == "predicted":
        return torch_pred.astype(np.int64)
    if target not in LABELS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    return np.full(len(torch_pred), LABELS.index(target), np.int64)


def _runtime_entry(logits: np.ndarray, cam: np.ndarray, target: int, box, input_size: int) -> dict:
    probs = softmax(logits[None])[0]
    pred = int(np.argmax(logits))
    return {
        "predicted": LABELS[pred],
        "probability": float(probs[pred]),
        "target_probability": float(probs[target]),
        "logits": [float(v) for v in logits],
        "map": np.round(cam.astype(np.float64), 7).tolist(),
        "map_max": float(cam.max()),
        **_box_scores(upsample(cam, input_size), box),
    }


def _box_scores(upsampled: np.ndarray, box) -> dict:
    return {"pointing_hit": metrics.pointing_hit(upsampled, box), "energy_in_box": metrics.energy_in_box(upsampled, box)}


def _compare(a: np.ndarray, b: np.ndarray, input_size: int) -> dict:
    if a.shape != b.shape:  # e.g. an occlusion grid that differs from the feature map: compare at input size
        a, b = upsample(a, input_size), upsample(b, input_size)
    return metrics.compare_maps(a, b)


def explain_images(artifacts: str | Path | Runtimes, pixels_uint8_nhwc: np.ndarray, boxes=None,
                   target: str = "predicted", names: list[str] | None = None, saved_model: bool = True) -> dict:
    """Explain ``pixels_uint8_nhwc`` (uint8 (N, S, S, 3), through the shared preprocessing) in every runtime.

    ``boxes``: per-image head box (x0, y0, x1, y1) in input pixels, or None, for the pointing game.
    ``artifacts``: an export directory or already loaded ``Runtimes``.
    Returns {"images": [per-image results], "summary": {...}, "notes": [...]}, JSON-serialisable."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    rt = artifacts if isinstance(artifacts, Runtimes) else load_runtimes(artifacts, saved_model=saved_model)
    pixels = np.asarray(pixels_uint8_nhwc)
    size = rt.spec.input_size
    if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[1:] != (size, size, 3):
        raise ValueError(f"expected uint8 (N, {size}, {size}, 3) pixels, got {pixels.dtype} {pixels.shape}")
    n = len(pixels)
    if n == 0:
        raise ValueError("no images to explain")
    boxes = list(boxes) if boxes is not None else [None] * n
    names = list(names) if names is not None else [f"image_{i:04d}" for i in range(n)]
    if len(boxes) != n or len(names) != n:
        raise ValueError(f"{n} images but {len(boxes)} boxes and {len(names)} names")
    started = time.perf_counter()

    model = rt.loaded.model
    maps: dict[str, list] = {"pytorch": [], "tflite_int8": [], "saved_model": []}
    logits: dict[str, list] = {k: [] for k in maps}
    targets = np.zeros(n, np.int64)
    for s in range(0, n, TORCH_BATCH):
        x = torch.from_numpy(rt.spec.to_float_nchw(pixels[s:s + TORCH_BATCH]))
        lg = torch_logits(model, x)
        t = _targets(target, lg.argmax(1))
        targets[s:s + len(t)] = t
        maps["pytorch"].append(torch_gradcam(model, x, t))
        logits["pytorch"].append(lg)
    m, lg = rt.int8.explain(pixels, targets)
    maps["tflite_int8"], logits["tflite_int8"] = [m], [lg]
    if saved_model and rt.saved_model is not None:
        m, lg = rt.saved_model.explain(rt.spec.to_float_nhwc(pixels), targets)
        maps["saved_model"], logits["saved_model"] = [m], [lg]
    maps = {k: np.concatenate(v) for k, v in maps.items() if v}
    logits = {k: np.concatenate(v) for k, v in logits.items() if v}

    results = []
    for i in range(n):
        entry = {"index": i, "name": str(names[i]),
                 "box": None if boxes[i] is None else [float(v) for v in boxes[i]],
                 "target": {"mode": target, "class": LABELS[targets[i]], "class_index": int(targets[i])},
                 "runtimes": {k: _runtime_entry(logits[k][i], maps[k][i], int(targets[i]), boxes[i], size)
                              for k in maps},
                 "parity": {pair: _compare(maps["pytorch"][i], maps[other][i], size)
                            for pair, other in PAIRS.items() if other in maps}}
        torch_pred = entry["runtimes"]["pytorch"]["predicted"]
        entry["same_prediction"] = {k: entry["runtimes"][k]["predicted"] == torch_pred for k in maps if k != "pytorch"}
        results.append(entry)
    summary = summarize(results, rt, target)
    summary["seconds"] = time.perf_counter() - started
    return {"images": results, "summary": summary, "notes": list(rt.notes)}


def summarize(results: list[dict], rt: Runtimes, target: str) -> dict:
    runtimes = list(results[0]["runtimes"]) if results else []
    summary: dict = {
        "images": len(results),
        "target": target,
        "input_size": rt.spec.input_size,
        "arch": rt.loaded.arch,
        "map_shape": {k: list(np.asarray(results[0]["runtimes"][k]["map"]).shape) for k in runtimes} if results else {},
        "methods": {k: v for k, v in rt.methods.items() if k in runtimes},
        "int8_method_note": rt.int8.note,
        # with target=predicted every runtime explains PyTorch's class; with a fixed target, that class
        "explained_class_same_share": 1.0 if results else None,
        "predicted_same_class_share": {},
        "empty_maps": {k: sum(1 for r in results if r["runtimes"][k]["map_max"] <= 0) for k in runtimes},
    }
    for key, agreeing_only in (("parity", False), ("parity_same_prediction", True)):
        summary[key] = {}
        for pair, other in PAIRS.items():
            chosen = [r for r in results if pair in r["parity"]
                      and (not agreeing_only or r["same_prediction"].get(other, False))]
            if chosen:
                summary[key][pair] = _parity_block(chosen, pair)
    for k in runtimes:
        if k != "pytorch":
            summary["predicted_same_class_share"][k] = float(np.mean([r["same_prediction"][k] for r in results]))
    with_boxes = [r for r in results if r["box"] is not None]
    baselines = [metrics.content_free_baselines(r["box"], rt.spec.input_size) for r in with_boxes]
    for key, score in (("pointing_game", "pointing_hit"), ("energy_in_box", "energy_in_box")):
        summary[key] = {"images_with_boxes": len(with_boxes)}
        for k in runtimes:
            summary[key][k] = float(np.mean([r["runtimes"][k][score] for r in with_boxes])) if with_boxes else None
        summary[key]["content_free_baseline"] = float(np.mean([b[score] for b in baselines])) if with_boxes else None
    return summary


# --- a benchmark entry ----------------------------------------------------------------------
def explain_synthetic(artifacts: str | Path | Runtimes, n: int = 200, start: int | None = None,
                      seed: int | None = None, target: str = "predicted", saved_model: bool = True,
                      return_pixels: bool = False) -> dict:
    """Explain ``n`` synthetic images with head boxes, by default the model's own test split
    (indices after its train + val ranges, so never a training image) with its data seed.
    ``return_pixels`` adds the uint8 images under "pixels" (for ``write_outputs``; not JSON)."""
    from data.sources import DEFAULT_SYNTHETIC_COUNTS
    from data.synthetic import generate

    rt = artifacts if isinstance(artifacts, Runtimes) else load_runtimes(artifacts, saved_model=saved_model)
    data = rt.loaded.data
    counts = {**DEFAULT_SYNTHETIC_COUNTS, **(data.get("synthetic_counts") or {})}
    start = counts["train"] + counts["val"] if start is None else start
    seed = data.get("seed", 0) if seed is None else seed
    images, _labels, boxes = generate(n, seed=seed, size=rt.spec.input_size, start=start, return_boxes=True)
    report = explain_images(rt, images, boxes=boxes, target=target, saved_model=saved_model,
                            names=[f"synthetic_{start + i:06d}" for i in range(n)])
    report["summary"]["synthetic"] = {"seed": int(seed), "start": int(start), "n": int(n)}
    if return_pixels:
        report["pixels"] = images
    return report


# --- text -----------------------------------------------------------------------------------
def _parity_block(results: list[dict], pair: str) -> dict:
    block = {"images": len(results)}
    for metric, higher in metrics.HIGHER_IS_BETTER.items():
        s = metrics.summarize([r["parity"][pair][metric] for r in results], higher)
        s["worst_image"] = results[s.pop("worst_index")]["name"]
        block[metric] = s
    return block


def format_summary(summary: dict) -> str:
    lines = [f"{summary['images']} images, {summary['arch']} at {summary['input_size']} px, "
             f"target={summary['target']}, "
             f"maps {summary['map_shape']}"]
    for key, label in (("parity", "all"), ("parity_same_prediction", "same pred")):
        for pair, block in summary[key].items():
            lines.append(f"{pair:<23} {label:>9} n={block['images']:<4}" + "  ".join(
                f"{metric} median {v['median']:.3f} worst {v['worst']:.3f}"
                for metric, v in block.items() if metric != "images"))
    lines.append("same predicted class as PyTorch: " + ", ".join(
        f"{k} {v:.3f}" for k, v in summary["predicted_same_class_share"].items()))
    for key, label in (("pointing_game", "pointing game"), ("energy_in_box", "energy in box")):
        block = summary[key]
        if block["images_with_boxes"]:
            lines.append(f"{label} ({block['images_with_boxes']} boxed images): " + ", ".join(
                f"{k} {v:.3f}" for k, v in block.items() if k != "images_with_boxes"))
    lines.append("empty (all-zero) maps: " + ", ".join(f"{k} {v}" for k, v in summary["empty_maps"].items()))
    return "\n".join(lines)


def write_outputs(report: dict, pixels: np.ndarray, out: str | Path, methods: dict, max_sheet: int = 64) -> dict:
    """Overlays, contact sheet and JSON into ``out``; returns the written paths."""
    from export.artifacts import write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    overlays = []
    for r in report["images"]:
        stem = Path(r["name"]).stem
        path = out / "overlays" / f"{r['index']:04d}_{stem}.png"
        overlays.append(render_overlay(pixels[r["index"]], r, methods, path))
    for path, r in zip(overlays, report["images"]):
        r["overlay"] = str(path.relative_to(out))
    sheet = render_contact_sheet(pixels, report["images"], out / CONTACT_SHEET, max_images=max_sheet) \
        if report["images"] else None
    body = {k: v for k, v in report.items() if k != "pixels"}
    js = write_json(out / JSON_NAME, body)
    return {"overlays": overlays, "contact_sheet": sheet, "json": js}


# --- CLI ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    from data.images import expand_paths, load_images

    parser = argparse.ArgumentParser(prog="python -m explain.gradcam", description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", required=True, type=Path, help="directory written by export/to_tflite.py")
    parser.add_argument("--images", required=True, nargs="+", help="image files and/or directories of images")
    parser.add_argument("--out", type=Path, default=Path("explain_out"), help="output directory (default: %(default)s)")
    parser.add_argument("--target", choices=TARGETS, default="predicted",
                        help="class to explain: PyTorch's prediction (default) or a fixed class")
    parser.add_argument("--no-saved-model", action="store_true", help="skip the SavedModel Grad-CAM panel")
    parser.add_argument("--occlusion", action="store_true",
                        help="use occlusion sensitivity on the int8 model even when it has a GAP + linear head")
    parser.add_argument("--max-sheet", type=int, default=64, help="images on the contact sheet (default 64)")
    args = parser.parse_args(argv)

    try:
        spec = check_artifacts(args.artifacts)
    except ArtifactsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    images = load_images(expand_paths(args.images), spec)
    for _path, reason in images.skipped:
        print(f"skipped: {reason}", file=sys.stderr)
    if not len(images.paths):
        print(f"error: none of the {len(images.skipped)} image path(s) could be read", file=sys.stderr)
        return 1
    try:
        runtimes = load_runtimes(args.artifacts, saved_model=not args.no_saved_model, force_occlusion=args.occlusion)
    except ArtifactsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for note in runtimes.notes:
        print(note)
    if runtimes.int8.method != "cam":
        print("NOTE: the int8 map is occlusion sensitivity, not CAM (see the note above); its parity with "
              "Grad-CAM measures two different methods")
    report = explain_images(runtimes, images.pixels, boxes=images.boxes, target=args.target,
                            names=[str(p) for p in images.paths])
    report["summary"]["skipped_images"] = len(images.skipped)
    report["skipped"] = [{"path": path, "reason": reason} for path, reason in images.skipped]
    written = write_outputs(report, images.pixels, args.out, runtimes.methods, args.max_sheet)
    print(format_summary(report["summary"]))
    print(f"explained {len(images.paths)} image(s), skipped {len(images.skipped)}; "
          f"wrote {len(written['overlays'])} overlays, {written['contact_sheet']}, {written['json']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
