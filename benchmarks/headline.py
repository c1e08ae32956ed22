"""The README's headline table, and its details in docs/results.md, written from the results files (never typed).

    python -m benchmarks.headline      # writes benchmarks/results/headline*.md, the README's table and results.md's

The README keeps seven columns: the model and its recipe, what it starts from, cross-validated int8 balanced
accuracy (pooled over the folds, real_cv.json), int8 agreement with PyTorch, and the fold-0 export's int8 size,
TFLM arena and Edge TPU mapping. The details table (docs/results.md, section 1) adds int8 − float, 1-thread
latency, TFLM's bit-exactness with LiteRT's reference kernels and the recipe's training time
(recipe_budget.json). A model with no row measured by today's code is quoted from
results/archive/2026-11-29/real_cv.json, marked as such; a row not yet run on every fold is left out.
tests/test_readme.py checks both copies.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .report import REPO, RESULTS, markdown_table

# each model's cross-validated row, what it starts from, and the recipe file that trains it (timed by
# benchmarks.recipe_budget); a model without a row measured with today's code is quoted from the archived record
BEST = {
    "slim_mobilenet": ("slim_mobilenet_distilled_slim_mobilenet", "nothing (synthetic start, distilled from a slim teacher)",
                       "configs/recipes/real_slim_mobilenet.yaml"),
    "mobilenet_v2": ("mobilenet_v2", "nothing (synthetic start)", "configs/recipes/real_mobilenet_v2.yaml"),
    "slim_mobilenet, microcontroller shape": ("slim_mobilenet_distilled_slim_mobilenet_early_wide_s65",
                                              "nothing (distilled from a slim teacher)",
                                              "configs/recipes/real_slim_mobilenet_mcu.yaml"),
    "mobilenet_v2 from ImageNet": ("imagenet_mobilenet_v2", "ImageNet (alpha 1.0)",
                                   "configs/recipes/imagenet_mobilenet_v2.yaml"),
    "mobilenet_v2 0.35 from ImageNet": ("imagenet_mobilenet_v2_035", "ImageNet (alpha 0.35)",
                                        "configs/recipes/imagenet_mobilenet_v2_035.yaml"),
    "slim_mobilenet, ImageNet teacher": ("imagenet_slim_mobilenet", "ImageNet, through its teacher",
                                         "configs/recipes/imagenet_slim_mobilenet.yaml"),
    "microcontroller shape, ImageNet teacher": ("imagenet_slim_mobilenet_mcu", "ImageNet, through its teacher",
                                                "configs/recipes/imagenet_slim_mobilenet_mcu.yaml"),
}
DETAILS_START, DETAILS_END = "<!-- headline details: written by python -m benchmarks.headline", "<!-- /headline details -->"
ARCHIVE = RESULTS / "archive" / "2026-11-29"
START, END = "<!-- headline: written by python -m benchmarks.headline", "<!-- /headline -->"


def _load(name: str, folder: Path = RESULTS) -> dict:
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _ci(stat: dict) -> str:
    return f"{stat['balanced_accuracy']:.3f} ({stat['ci'][0]:.3f}–{stat['ci'][1]:.3f})"


def _budget(run: dict) -> str:
    time = f"{run['fit_seconds_total'] / 60:.1f} min, {run['threads']} threads"
    return time if run["schedules_completed"] else f"{time}, cut short"


def measured() -> list[tuple[str, str, str, dict, dict | None]]:
    """(model, starts from, recipe or archive note, cross-validated row, timed recipe run) of every model with a row."""
    cv, archived, budgets = _load("real_cv"), _load("real_cv", ARCHIVE), _load("recipe_budget")
    out = []
    for model, (row_name, start, recipe) in BEST.items():
        row, trained_as = cv.get(row_name), f"`{recipe}`"
        if row is not None and len(row["folds"]) < row["settings"]["folds"]:
            row = None  # a row not yet run on every fold is reported in docs/results.md, not as a headline
        if row is None and row_name in archived:
            row, trained_as = archived[row_name], "its synthetic run → that day's real recipe (archived, commit 44bb49e)"
        if row is not None:
            out.append((model, start, trained_as, row, budgets.get(recipe) if row_name in cv else None))
    return out


def table() -> str:
    rows = []
    for model, start, trained_as, row, _ in measured():
        footprint = row.get("export_footprint", {})
        arena = footprint.get("tflm_arena_bytes")
        rows.append([f"{model}: {trained_as}", start, _ci(row["tflite_int8"]), f"{100 * row['int8_agreement']:.1f} %",
                     f"{footprint['int8_bytes'] / 1000:.0f} KB" if footprint else "–",
                     f"{arena / 1000:.0f} KB" if arena else "–",
                     f"{footprint['edgetpu_mapped_ops']}/{footprint['ops']} ops" if footprint else "–"])
    return markdown_table(["model and recipe", "starts from", "int8 balanced accuracy, 5-fold CV on rider photos (95 % CI)",
                           "int8 agrees with PyTorch", "int8 size", "TFLM arena", "Edge TPU"], rows)


def details() -> str:
    rows = []
    for model, _, _, row, budget in measured():
        footprint = row.get("export_footprint", {})
        tflm = (row.get("tflm") or {}).get("vs_litert_reference")
        rows.append([model, f"{100 * row['tflite_int8']['minus_pytorch']['value']:+.1f} pp",
                     f"{footprint['int8_latency']['median_ms']:.2f} ms" if footprint.get("int8_latency") else "–",
                     f"{100 * tflm['exact_match_rate']:.1f} % of {tflm['images']:,}" if tflm else "–",
                     _budget(budget) if budget else "–"])
    return markdown_table(["model", "int8 − float", "int8 latency, 1 CPU thread",
                           "TFLM = LiteRT reference kernels, bit for bit", "recipe's training time, rider split"], rows)


def _replace_block(path: Path, start: str, end: str, text: str) -> None:
    current = path.read_text()
    pattern = re.compile(re.escape(start) + r".*?-->\n.*?" + re.escape(end), re.S)
    if not pattern.search(current):
        raise SystemExit(f"{path} has no block {start} ... {end}")
    block = f"{start} from benchmarks/results/*.json; a test keeps them equal -->\n{text}\n{end}"
    path.write_text(pattern.sub(lambda _: block, current))


def write(readme: Path = REPO / "README.md", results_md: Path = REPO / "docs" / "results.md") -> str:
    text, more = table(), details()
    (RESULTS / "headline.md").write_text(text + "\n")
    (RESULTS / "headline_details.md").write_text(more + "\n")
    _replace_block(readme, START, END, text)
    _replace_block(results_md, DETAILS_START, DETAILS_END, more)
    return text


if __name__ == "__main__":
    print(write())
