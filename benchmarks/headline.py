"""The README's headline table, written from the results files (never typed by hand).

    python -m benchmarks.headline      # writes benchmarks/results/headline.md and the README's table

Accuracy, agreement, int8 − float and TFLM's bit-exactness with LiteRT's reference kernels (pooled over the
folds) come from each model's cross-validated row (real_cv.json); int8 size, Edge TPU mapping, 1-thread latency
and TFLM arena from that row's fold-0 export summary; the training time from recipe_budget.json (one timed run
of the model's recipe file on the rider split). A model with no row measured by today's code is quoted from
results/archive/2026-11-29/real_cv.json, marked as such. tests/test_readme.py checks that the README holds
exactly this table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .report import REPO, RESULTS, markdown_table

# each model's cross-validated row, how it was trained (docs/results.md) and the recipe file that trains it
# (timed by benchmarks.recipe_budget); a model without a row measured with today's code is quoted from the
# archived record, and says so
BEST = {
    "slim_mobilenet": ("slim_mobilenet_distilled_slim_mobilenet",
                       "synthetic start → teacher → distilled student", "configs/recipes/real_slim_mobilenet.yaml"),
    "mobilenet_v2": ("mobilenet_v2", "synthetic start → real recipe", "configs/recipes/real_mobilenet_v2.yaml"),
    "slim_mobilenet, microcontroller shape": ("slim_mobilenet_distilled_slim_mobilenet_early_wide_s65",
                                              "distilled from the first row's teacher",
                                              "configs/recipes/real_slim_mobilenet_mcu.yaml"),
}
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


def rows() -> list[list[str]]:
    cv, archived, budgets = _load("real_cv"), _load("real_cv", ARCHIVE), _load("recipe_budget")
    out = []
    for model, (row_name, how, recipe) in BEST.items():
        row, trained_as = cv.get(row_name), f"`{recipe}`: {how}"
        if row is None and row_name in archived:
            row, trained_as = archived[row_name], "its synthetic run → that day's real recipe (archived, commit 44bb49e)"
        if row is None:
            continue
        budget = budgets.get(recipe) if row_name in cv else None
        footprint = row.get("export_footprint", {})
        arena, tflm = footprint.get("tflm_arena_bytes"), (row.get("tflm") or {}).get("vs_litert_reference")
        out.append([
            model, trained_as, _ci(row["tflite_int8"]), f"{100 * row['int8_agreement']:.1f} %",
            f"{100 * row['tflite_int8']['minus_pytorch']['value']:+.1f} pp",
            f"{footprint['int8_bytes'] / 1000:.0f} KB" if footprint else "–",
            f"{footprint['int8_latency']['median_ms']:.2f} ms" if footprint.get("int8_latency") else "–",
            f"{footprint['edgetpu_mapped_ops']}/{footprint['ops']} ops" if footprint else "–",
            f"{arena / 1000:.0f} KB" if arena else "–",
            f"{100 * tflm['exact_match_rate']:.1f} % of {tflm['images']:,}" if tflm else "–",
            _budget(budget) if budget else "–"])
    return out


def table() -> str:
    return markdown_table(["model", "trained as", "int8 balanced accuracy, 5-fold CV on rider photos (95 % CI)",
                           "int8 agrees with PyTorch", "int8 − float", "int8 size", "int8 latency, 1 CPU thread",
                           "Edge TPU", "TFLM arena", "TFLM = LiteRT reference kernels, bit for bit",
                           "recipe's training time, rider split"], rows())


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
