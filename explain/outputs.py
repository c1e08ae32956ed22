"""An explanation report on disk: one overlay per image, a contact sheet and the JSON.

    OUT/overlays/NNNN_<name>.png   original | one panel per runtime, each titled with its prediction
    OUT/contact_sheet.png          (reference | compared) pairs for the first images
    OUT/explain_parity.json        the report of ``parity.explain_images``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from export.artifacts import write_json

from .render import render_contact_sheet, render_overlay

JSON_NAME = "explain_parity.json"
CONTACT_SHEET = "contact_sheet.png"


def write_outputs(report: dict, pixels: np.ndarray, out: str | Path, max_sheet: int = 64,
                  compared: str | None = None) -> dict:
    """Overlays, contact sheet and JSON into ``out``; returns the written paths. The sheet pairs ``compared``
    (default: the last runtime, the deployed int8 model for an export) with the map it is compared with."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = report["summary"]
    methods = summary["methods"]
    compared = compared or list(methods)[-1]
    partner = next((p["reference"] for p in summary.get("pairs", {}).values() if p["compared"] == compared),
                   summary["reference"])
    pair = (partner, compared)
    overlays = []
    for r in report["images"]:
        path = out / "overlays" / f"{r['index']:04d}_{Path(r['name']).stem}.png"
        overlays.append(render_overlay(pixels[r["index"]], r, methods, path, pair))
        r["overlay"] = str(path.relative_to(out))
    sheet = render_contact_sheet(pixels, report["images"], out / CONTACT_SHEET, methods, pair, max_images=max_sheet)
    return {"overlays": overlays, "contact_sheet": sheet, "json": write_json(out / JSON_NAME, report)}
