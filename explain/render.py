"""Pictures of the maps: one overlay PNG per image and a contact sheet (matplotlib, Agg, jet).

Every heat map shown is the native map upsampled with ``torch_gradcam.upsample`` (the same bilinear
upsampling for every runtime) and scaled by its own maximum, so panels compare *where*, not *how much*.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from .torch_gradcam import upsample  # noqa: E402

ALPHA = 0.5
PANEL_TITLES = {"pytorch": "PyTorch Grad-CAM", "saved_model": "SavedModel Grad-CAM",
                "tflite_int8": "int8 TFLite {method}"}
SHEET_RUNTIMES = ("pytorch", "tflite_int8")


def display_map(native: np.ndarray, size: int) -> np.ndarray:
    """Native (h, w) map -> (size, size) in [0, 1] (divided by its own max; all-zero stays zero)."""
    up = np.maximum(upsample(np.asarray(native, np.float32), size), 0.0)
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


def _runtime_title(name: str, r: dict, method: str) -> str:
    head = PANEL_TITLES.get(name, name).format(method="CAM" if method == "cam" else "occlusion")
    return f"{head}\npred {r['predicted']} {r['probability']:.2f}"


def render_overlay(pixels: np.ndarray, result: dict, methods: dict, path: str | Path) -> Path:
    """original | PyTorch Grad-CAM | SavedModel Grad-CAM (if computed) | int8 TFLite CAM, one PNG."""
    runtimes = [n for n in ("pytorch", "saved_model", "tflite_int8") if n in result["runtimes"]]
    size = pixels.shape[0]
    fig, axes = plt.subplots(1, 1 + len(runtimes), figsize=(2.3 * (1 + len(runtimes)), 2.9), dpi=100)
    box = result.get("box")
    _panel(axes[0], pixels, None, f"{_short(result['name'])}\n{size}x{size} input", box)
    for ax, name in zip(axes[1:], runtimes):
        r = result["runtimes"][name]
        _panel(ax, pixels, display_map(np.asarray(r["map"]), size), _runtime_title(name, r, methods.get(name, "")), box)
    parity = result.get("parity", {}).get("pytorch_vs_tflite_int8")
    footer = f"explaining '{result['target']['class']}' ({result['target']['mode']})"
    if parity:
        footer += (f"  |  PyTorch vs int8: r={parity['pearson']:.2f}  top-20% IoU={parity['top20_iou']:.2f}  "
                   f"peak shift={parity['peak_distance_cells']:.1f} cells")
    fig.suptitle(footer, fontsize=8, y=0.04, va="bottom")
    fig.subplots_adjust(left=0.01, right=0.99, top=0.82, bottom=0.12, wspace=0.05)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def render_contact_sheet(pixels: np.ndarray, results: list[dict], path: str | Path, columns: int = 4,
                         max_images: int = 64) -> Path:
    """A grid of (PyTorch | int8) pairs, one pair per image, up to ``max_images`` images."""
    shown = results[:max_images]
    rows = max(1, math.ceil(len(shown) / columns))
    panels = len(SHEET_RUNTIMES)
    # each image is a pair of panels; a narrow empty column separates neighbouring pairs
    ratios = ([1.0] * panels + [0.12]) * columns
    fig, axes = plt.subplots(rows, len(ratios), figsize=(1.45 * sum(ratios), 1.75 * rows + 0.75), dpi=100,
                             squeeze=False, gridspec_kw={"width_ratios": ratios})
    size = pixels.shape[1]
    for ax in axes.ravel():
        ax.axis("off")
    for i, result in enumerate(shown):
        row, col = divmod(i, columns)
        for j, name in enumerate(SHEET_RUNTIMES):
            ax = axes[row, col * (panels + 1) + j]
            ax.axis("on")
            r = result["runtimes"][name]
            tag = "PT" if name == "pytorch" else "int8"
            first = _short(result["name"], 18)
            if j > 0 and "pytorch_vs_tflite_int8" in result.get("parity", {}):
                first = f"r={result['parity']['pytorch_vs_tflite_int8']['pearson']:.2f}"
            _panel(ax, pixels[result["index"]], display_map(np.asarray(r["map"]), size),
                   f"{first}\n{tag} {r['predicted']} {r['probability']:.2f}", result.get("box"), fontsize=6)
    note = f"left: PyTorch Grad-CAM, right: int8 TFLite; r = Pearson at map resolution; box = head (if known)"
    if len(results) > len(shown):
        note += f"; first {len(shown)} of {len(results)} images"
    fig.suptitle(note, fontsize=8, y=0.995, va="top")
    fig.subplots_adjust(left=0.005, right=0.995, top=1 - 0.7 / (1.75 * rows + 0.75), bottom=0.005,
                        wspace=0.03, hspace=0.45)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _short(name: str, n: int = 22) -> str:
    name = Path(str(name)).name
    return name if len(name) <= n else "…" + name[-(n - 1):]
