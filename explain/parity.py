"""Explanation parity across runtimes: explain the same images in every runtime of an export and compare.

The first explainer (PyTorch, for ``load_explainers``) is the reference: with ``target="predicted"`` it
explains the class it predicts and every other runtime explains that same class, so the maps are
comparable; whether each runtime *predicted* that class is reported separately. ``helmet`` /
``no_helmet`` fix the explained class everywhere. Each map is compared with the one its ``pairs`` entry
names (an explainer of the same method). Nothing here depends on which explainers there are.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Mapping

import numpy as np

from data.errors import ConfigError
from data.preprocessing import LABELS
from export.runtimes import softmax

from . import metrics
from .attribution import Attribution, Explainer, checked_pixels
from .geometry import upsample
from .export_explainers import ExportExplainers

TARGETS = ("predicted", *LABELS)


def explain_images(runtimes: ExportExplainers, pixels: np.ndarray, boxes=None, target: str = "predicted",
                   names: list[str] | None = None, quality: bool = False) -> dict:
    """Explain uint8 (N, S, S, 3) ``pixels`` (the shared preprocessing's input) in every runtime.

    ``boxes``: per-image head box (x0, y0, x1, y1) in input pixels, or None, for the pointing game.
    ``quality``: also judge each runtime's maps (``verdict.judge``), under "quality".
    Returns {"images": [per-image results], "summary": {...}, "notes": [...]}, JSON-serialisable."""
    if target not in TARGETS:
        raise ConfigError(f"target must be one of {TARGETS}, got {target!r}")
    pixels = checked_pixels(pixels, runtimes.spec)
    n, size = len(pixels), runtimes.spec.input_size
    boxes = list(boxes) if boxes is not None else [None] * n
    names = list(names) if names is not None else [f"image_{i:04d}" for i in range(n)]
    if len(boxes) != n or len(names) != n:
        raise ValueError(f"{n} images but {len(boxes)} boxes and {len(names)} names")
    started = time.perf_counter()
    attributions = attribute_all(runtimes.explainers, pixels, target)
    results = [_image_entry(i, names[i], boxes[i], target, attributions, runtimes.pairs, size) for i in range(n)]
    summary = summarize(results, attributions, runtimes.pairs, target, size, runtimes.model.arch)
    summary["seconds"] = time.perf_counter() - started
    notes = [f"{name}: {a.note}" for name, a in attributions.items()] + list(runtimes.notes)
    report = {"images": results, "summary": summary, "notes": notes}
    if quality:
        from .verdict import judge

        report["quality"] = judge(runtimes, attributions, pixels, boxes if any(b is not None for b in boxes) else None)
    return report


def attribute_all(explainers: Mapping[str, Explainer], pixels: np.ndarray, target: str) -> dict[str, Attribution]:
    """The first explainer explains ``target`` (``predicted``: its own prediction); every other one
    explains the class the first one explained, image by image."""
    (reference, first), *others = explainers.items()
    reference_attribution = first.attribute(pixels, None if target == "predicted" else LABELS.index(target))
    return {reference: reference_attribution,
            **{name: explainer.attribute(pixels, reference_attribution.targets) for name, explainer in others}}


def _image_entry(i: int, name: str, box, mode: str, attributions: dict[str, Attribution], pairs: dict[str, str],
                 size: int) -> dict:
    reference, *others = attributions
    target = int(attributions[reference].targets[i])
    runtimes = {k: _runtime_entry(a.logits[i], a.maps[i], int(a.targets[i]), box, size, a.geometry)
                for k, a in attributions.items()}
    return {
        "index": i, "name": str(name), "box": None if box is None else [float(v) for v in box],
        "target": {"mode": mode, "class": LABELS[target], "class_index": target},
        "runtimes": runtimes,
        "parity": {_pair(ref, k): _compare(attributions[ref], attributions[k], i, size) for k, ref in pairs.items()},
        "same_prediction": {k: runtimes[k]["predicted"] == runtimes[reference]["predicted"] for k in others},
    }


def _pair(reference: str, other: str) -> str:
    return f"{reference}_vs_{other}"


def _runtime_entry(logits: np.ndarray, cam: np.ndarray, target: int, box, input_size: int, geometry) -> dict:
    probs = softmax(logits[None])[0]
    pred = int(np.argmax(logits))
    upsampled = upsample(cam, input_size, geometry)
    return {
        "predicted": LABELS[pred],
        "probability": float(probs[pred]),
        "target_probability": float(probs[target]),
        "logits": [float(v) for v in logits],
        "map": np.round(cam.astype(np.float64), 7).tolist(),
        "geometry": None if geometry is None else asdict(geometry),
        "map_max": float(cam.max()),
        "pointing_hit": metrics.pointing_hit(upsampled, box),
        "energy_in_box": metrics.energy_in_box(upsampled, box),
    }


def _compare(a: Attribution, b: Attribution, i: int, input_size: int) -> dict:
    if a.maps.shape != b.maps.shape:  # e.g. an occlusion grid that differs from the feature map: at input size
        return metrics.compare_maps(upsample(a.maps[i], input_size, a.geometry), upsample(b.maps[i], input_size, b.geometry))
    return metrics.compare_maps(a.maps[i], b.maps[i])


# --- the summary ----------------------------------------------------------------------------
def summarize(results: list[dict], attributions: dict[str, Attribution], pairs: dict[str, str], target: str,
              input_size: int, arch: str) -> dict:
    reference, *others = attributions
    same_target = np.all([a.targets == attributions[reference].targets for a in attributions.values()], axis=0)
    summary: dict = {
        "images": len(results),
        "target": target,
        "reference": reference,
        "input_size": input_size,
        "arch": arch,
        "map_shape": {k: list(a.maps.shape[1:]) for k, a in attributions.items()},
        "methods": {k: a.method for k, a in attributions.items()},
        "method_notes": {k: a.note for k, a in attributions.items()},
        "explained_class_same_share": float(np.mean(same_target)),
        "predicted_same_class_share": {k: float(np.mean([r["same_prediction"][k] for r in results]))
                                       for k in others},
        "empty_maps": {k: int(sum(1 for r in results if r["runtimes"][k]["map_max"] <= 0)) for k in attributions},
    }
    summary["pairs"] = {_pair(ref, other): {"reference": ref, "compared": other} for other, ref in pairs.items()}
    for key, agreeing_only in (("parity", False), ("parity_same_prediction", True)):
        summary[key] = {}
        for other, ref in pairs.items():
            chosen = [r for r in results if not agreeing_only or r["same_prediction"][other]]
            if chosen:
                summary[key][_pair(ref, other)] = _parity_block(chosen, _pair(ref, other))
    summary.update(_box_summaries(results, list(attributions), input_size))
    return summary


def _parity_block(results: list[dict], pair: str) -> dict:
    block = {"images": len(results)}
    for metric, higher in metrics.HIGHER_IS_BETTER.items():
        s = metrics.summarize([r["parity"][pair][metric] for r in results], higher)
        s["worst_image"] = results[s.pop("worst_index")]["name"]
        block[metric] = s
    return block


def _box_summaries(results: list[dict], runtimes: list[str], input_size: int) -> dict:
    """Pointing game and energy in box per runtime over the images with a head box, and what a
    content-free map scores on the same boxes."""
    with_boxes = [r for r in results if r["box"] is not None]
    baselines = [metrics.content_free_baselines(r["box"], input_size) for r in with_boxes]
    out = {}
    for key, score in (("pointing_game", "pointing_hit"), ("energy_in_box", "energy_in_box")):
        out[key] = {"images_with_boxes": len(with_boxes)}
        for k in runtimes:
            out[key][k] = float(np.mean([r["runtimes"][k][score] for r in with_boxes])) if with_boxes else None
        out[key]["content_free_baseline"] = float(np.mean([b[score] for b in baselines])) if with_boxes else None
    return out


def format_summary(summary: dict) -> str:
    lines = [f"{summary['images']} images, {summary['arch']} at {summary['input_size']} px, "
             f"target={summary['target']}, maps {summary['map_shape']}"]
    width = max((len(pair) for pair in summary["parity"]), default=0)
    for key, label in (("parity", "all"), ("parity_same_prediction", "same pred")):
        for pair, block in summary[key].items():
            lines.append(f"{pair:<{width}} {label:>9} n={block['images']:<4}" + "  ".join(
                f"{metric} median {v['median']:.3f} worst {v['worst']:.3f}"
                for metric, v in block.items() if metric != "images"))
    lines.append(f"same predicted class as {summary['reference']}: " + ", ".join(
        f"{k} {v:.3f}" for k, v in summary["predicted_same_class_share"].items()))
    for key, label in (("pointing_game", "pointing game"), ("energy_in_box", "energy in box")):
        block = summary[key]
        if block["images_with_boxes"]:
            lines.append(f"{label} ({block['images_with_boxes']} boxed images): " + ", ".join(
                f"{k} {v:.3f}" for k, v in block.items() if k != "images_with_boxes"))
    lines.append("empty (all-zero) maps: " + ", ".join(f"{k} {v}" for k, v in summary["empty_maps"].items()))
    return "\n".join(lines)
