"""Pictures of the maps: one overlay PNG per image and a contact sheet (matplotlib, Agg, jet).

Every heat map shown is the native map upsampled with ``geometry.upsample`` (bilinear between cell centres placed
on their receptive fields, for every runtime alike) and scaled by its own maximum, so panels compare *where*, not
*how much*.
Overlays show every runtime of a result; the contact sheet and the overlay footer show one ``pair``
(reference, compared runtime).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from .geometry import MapGeometry, upsample  # noqa: E402

ALPHA = 0.5
RUNTIME_LABELS = {"pytorch": "PyTorch", "pytorch_occlusion": "PyTorch", "onnx": "ONNX", "saved_model": "SavedModel",
                  "tflite_float32": "float32 TFLite", "tflite_int8": "int8 TFLite"}
SHORT_LABELS = {"pytorch": "PT", "pytorch_occlusion": "PT occl.", "saved_model": "SM", "tflite_float32": "fp32", "tflite_int8": "int8"}
METHOD_LABELS = {"gradcam": "Grad-CAM", "hirescam": "HiResCAM", "cam": "CAM", "occlusion": "occlusion"}


def display_map(native: np.ndarray, size: int, geometry: dict | None = None) -> np.ndarray:
    """Native (h, w) map -> (size, size) in [0, 1] (divided by its own max; all-zero stays zero). ``geometry``: a
    report's ``MapGeometry`` fields (None: tiles)."""
    up = np.maximum(upsample(np.asarray(native, np.float32), size, MapGeometry(**geometry) if geometry else None), 0.0)
    peak = up.max()
    return up / peak if peak > 0 else up


def _panel(ax, pixels: np.ndarray, heat: np.ndarray | None, title: str, box=None, fontsize: float = 8):
    ax.imshow(pixels, interpolation="nearest")
    if heat is not None:
        ax.imshow(heat, cmap="jet", alpha=ALPHA, vmin=0.0, vmax=1.0, interpolation="nearest")
        if heat.max() > 0:
            r, c = np.unravel_index(int(np.argmax(heat)), heat.shape)
            ax.plot([c], [r], marker="+", color="white", markersize=10, markeredgewidth=2)
    if box is not None:
        x0, y0, x1, y1 = box
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor="lime", linewidth=1.2))
    ax.set_title(title, fontsize=fontsize)
    ax.set_xticks([])
    ax.set_yticks([])


def panel_title(runtime: str, method: str) -> str:
    """e.g. "PyTorch Grad-CAM", "int8 TFLite CAM"."""
    return f"{RUNTIME_LABELS.get(runtime, runtime)} {METHOD_LABELS.get(method, method)}"


def _short(runtime: str) -> str:
    return SHORT_LABELS.get(runtime, runtime)


def render_overlay(pixels: np.ndarray, result: dict, methods: dict, path: str | Path,
                   pair: tuple[str, str] | None = None) -> Path:
    """original | one panel per runtime of ``result`` (in its order), one PNG; the footer gives the
    parity of ``pair`` when the result has it."""
    runtimes = list(result["runtimes"])
    size = pixels.shape[0]
    fig, axes = plt.subplots(1, 1 + len(runtimes), figsize=(2.3 * (1 + len(runtimes)), 2.9), dpi=100)
    box = result.get("box")
    _panel(axes[0], pixels, None, f"{_short_name(result['name'])}\n{size}x{size} input", box)
    for ax, name in zip(axes[1:], runtimes):
        r = result["runtimes"][name]
        title = f"{panel_title(name, methods.get(name, ''))}\npred {r['predicted']} {r['probability']:.2f}"
        _panel(ax, pixels, display_map(np.asarray(r["map"]), size, r.get("geometry")), title, box)
    footer = f"explaining '{result['target']['class']}' ({result['target']['mode']})"
    parity = result.get("parity", {}).get(f"{pair[0]}_vs_{pair[1]}") if pair else None
    if parity:
        footer += (f"  |  {_short(pair[0])} vs {_short(pair[1])}: r={parity['pearson']:.2f}  "
                   f"top-20% IoU={parity['top20_iou']:.2f}  peak shift={parity['peak_distance_cells']:.1f} cells")
    fig.suptitle(footer, fontsize=8, y=0.04, va="bottom")
    fig.subplots_adjust(left=0.01, right=0.99, top=0.82, bottom=0.12, wspace=0.05)
    return _save(fig, path)


def render_contact_sheet(pixels: np.ndarray, results: list[dict], path: str | Path, methods: dict,
                         pair: tuple[str, str], columns: int = 4, max_images: int = 64) -> Path:
    """A grid of (reference | compared) panel pairs, one pair per image, up to ``max_images`` images."""
    shown = results[:max_images]
    rows = max(1, math.ceil(len(shown) / columns))
    panels = len(pair)
    # each image is a pair of panels; a narrow empty column separates neighbouring pairs
    ratios = ([1.0] * panels + [0.12]) * columns
    fig, axes = plt.subplots(rows, len(ratios), figsize=(1.45 * sum(ratios), 1.75 * rows + 0.75), dpi=100,
                             squeeze=False, gridspec_kw={"width_ratios": ratios})
    size = pixels.shape[1]
    for ax in axes.ravel():
        ax.axis("off")
    pair_key = f"{pair[0]}_vs_{pair[1]}"
    for i, result in enumerate(shown):
        row, col = divmod(i, columns)
        for j, name in enumerate(pair):
            ax = axes[row, col * (panels + 1) + j]
            ax.axis("on")
            r = result["runtimes"][name]
            first = _short_name(result["name"], 18)
            if j > 0 and pair_key in result.get("parity", {}):
                first = f"r={result['parity'][pair_key]['pearson']:.2f}"
            _panel(ax, pixels[result["index"]], display_map(np.asarray(r["map"]), size, r.get("geometry")),
                   f"{first}\n{_short(name)} {r['predicted']} {r['probability']:.2f}", result.get("box"), fontsize=6)
    left, right = (panel_title(name, methods.get(name, "")) for name in pair)
    note = f"left: {left}, right: {right}; r = Pearson at map resolution; box = head (if known)"
    if len(results) > len(shown):
        note += f"; first {len(shown)} of {len(results)} images"
    fig.suptitle(note, fontsize=8, y=0.995, va="top")
    fig.subplots_adjust(left=0.005, right=0.995, top=1 - 0.7 / (1.75 * rows + 0.75), bottom=0.005,
                        wspace=0.03, hspace=0.45)
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _short_name(name: str, n: int = 22) -> str:
    name = Path(str(name)).name
    return name if len(name) <= n else "…" + name[-(n - 1):]
