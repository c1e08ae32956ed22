"""The README's headline table, written from the results files (never typed by hand).

    python -m benchmarks.headline      # writes benchmarks/results/headline.md and the README's table

Accuracy, agreement and int8 − float come from the best cross-validated recipe row of each model
(real_cv.json); int8 size, Edge TPU mapping and TFLM arena from that row's fold-0 export summary kept in
real_cv.json; latency from the synthetic pipeline (synthetic.json: same network and input size); the
training time of all the recipe's stages from one timed run of the recipe (recipe_budget.json).
tests/test_readme.py checks that the README holds exactly this table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .report import REPO, RESULTS, markdown_table

# the best cross-validated recipe of each model (docs/results.md says why), and its recipe file
BEST = {
    "slim_mobilenet": ("slim_mobilenet_distilled_slim_mobilenet", "configs/recipes/real_slim_mobilenet.yaml"),
    "mobilenet_v2": ("mobilenet_v2", "configs/recipes/real_mobilenet_v2.yaml"),
}
START, END = "<!-- headline: written by python -m benchmarks.headline", "<!-- /headline -->"


def _load(name: str) -> dict:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _ci(stat: dict) -> str:
    return f"{stat['balanced_accuracy']:.3f} ({stat['ci'][0]:.3f}–{stat['ci'][1]:.3f})"


def rows() -> list[list[str]]:
    cv, synthetic, budget = _load("real_cv"), _load("synthetic"), _load("recipe_budget")
    out = []
    for model, (row_name, recipe) in BEST.items():
        row, synth, timed = cv.get(row_name), synthetic.get(model, {}), budget.get(recipe, {})
        if row is None:
            continue
        footprint = row.get("export_footprint", {})
        out.append([
            model, f"`{recipe}`", _ci(row["tflite_int8"]), f"{100 * row['int8_agreement']:.1f} %",
            f"{100 * row['tflite_int8']['minus_pytorch']['value']:+.1f} pp",
            f"{footprint['int8_bytes'] / 1000:.0f} KB" if footprint else "–",
            f"{synth['int8_latency']['median_ms']:.2f} ms" if synth.get("int8_latency") else "–",
            f"{footprint['edgetpu_mapped_ops']}/{footprint['ops']} ops" if footprint else "–",
            f"{footprint['tflm_arena_bytes'] / 1000:.0f} KB" if footprint.get("tflm_arena_bytes") else "–",
            f"{timed['fit_seconds_total'] / 60:.0f} min" if timed else "–"])
    return out


def table() -> str:
    return markdown_table(["model", "recipe", "int8 balanced accuracy, 5-fold CV on rider photos (95 % CI)",
                           "int8 agrees with PyTorch", "int8 − float", "int8 size", "int8 latency, 1 CPU thread",
                           "Edge TPU", "TFLM arena", "training, all stages"], rows())


def write(readme: Path = REPO / "README.md") -> str:
    text = table()
    (RESULTS / "headline.md").write_text(text + "\n")
    current = readme.read_text()
    pattern = re.compile(re.escape(START) + r".*?-->\n.*?" + re.escape(END), re.S)
    block = f"{START} from benchmarks/results/*.json; a test keeps them equal -->\n{text}\n{END}"
    if not pattern.search(current):
        raise SystemExit(f"{readme} has no headline block ({START} ... {END})")
    readme.write_text(pattern.sub(lambda _: block, current))
    return text


if __name__ == "__main__":
    print(write())
