"""Pooling cross-validation folds: every crop a test crop once, intervals from a photo-group bootstrap,
differences paired on the same heads, balanced accuracy per dataset as well as overall."""

from __future__ import annotations

import statistics
from collections.abc import Callable

import numpy as np

from .bootstrap import cluster_bootstrap
from .report import markdown_table

ARTIFACTS = ("pytorch", "tflite_int8")


def pooled_predictions(folds: list[dict]) -> dict:
    """Every fold's per-crop predictions, one fold after another."""
    return {key: [v for f in folds for v in f[key]] for key in ("crops", "labels", "groups", "datasets", *ARTIFACTS)}


def pool(folds: list[dict]) -> dict:
    """Pooled predictions of all folds with photo-bootstrap intervals; per-fold figures for the spread."""
    predictions = pooled_predictions(folds)
    labels, groups, datasets = predictions["labels"], predictions["groups"], predictions["datasets"]
    preds = {a: predictions[a] for a in ARTIFACTS}
    stats = cluster_bootstrap(labels, groups, preds)
    return {
        "folds": [f["fold"] for f in folds],
        "crops": len(labels), "photo_groups": stats["groups"],
        "pytorch": stats["pytorch"], "tflite_int8": stats["tflite_int8"],
        "int8_agreement": float(np.mean(np.array(preds["pytorch"]) == np.array(preds["tflite_int8"]))),
        "per_dataset": per_dataset(labels, groups, datasets, preds),
        "tflm": tflm_agreement(folds),
        "int8_per_fold": [f["balanced_accuracy"]["tflite_int8"] for f in folds],
        "pytorch_per_fold": [f["balanced_accuracy"]["pytorch"] for f in folds],
        "int8_agreement_per_fold": [f["int8_agreement"] for f in folds],
        "fit_seconds_median": statistics.median(f["fit_seconds"] for f in folds),
        "fit_seconds_per_fold": [f["fit_seconds"] for f in folds],
        "predictions": predictions,
    }


def tflm_agreement(folds: list[dict]) -> dict | None:
    """TFLM against LiteRT's reference and default kernels on every fold's test crops: exact-match rate (whole
    output vectors), largest difference in quantization steps, top-1 agreement (None for folds exported
    before TFLM was checked)."""
    if not all(f.get("tflm") for f in folds):
        return None
    out = {}
    for versus in ("vs_litert_reference", "vs_litert_default"):
        blocks = [f["tflm"][versus] for f in folds]
        images = sum(b["images"] for b in blocks)
        out[versus] = {"images": images,
                       "exact_match_rate": sum(b["exact_match_rate"] * b["images"] for b in blocks) / images,
                       "top1_agreement": sum(b["top1_agreement"] * b["images"] for b in blocks) / images,
                       "max_abs_diff_steps": max(b["max_abs_diff_steps"] for b in blocks)}
    return out


def per_dataset(labels, groups, datasets, preds) -> dict:
    """int8 and float balanced accuracy (with intervals) of the test crops of each dataset."""
    out = {}
    for name in dict.fromkeys(datasets):
        idx = [i for i, d in enumerate(datasets) if d == name]
        stats = cluster_bootstrap([labels[i] for i in idx], [groups[i] for i in idx],
                                  {a: [preds[a][i] for i in idx] for a in ARTIFACTS})
        out[name] = {"crops": len(idx), **{a: stats[a] for a in ARTIFACTS}}
    return out


def heads(row: dict) -> list[str]:
    return row["predictions"]["crops"]


def compare_rows(results: dict, reference_of: Callable[[dict], str]) -> dict:
    """int8 balanced accuracy of every row minus its reference row (``reference_of(settings)``), paired on the
    same heads: all of them, or the row's own when it ran only some folds (``--only-folds``). A row whose
    reference is absent or did not score its heads is listed under ``not_paired``; a row without predictions
    (measured before they were kept) is left out."""
    by_reference: dict[str, list[str]] = {}
    subsets, not_paired = [], []
    scored = dict(rows_of(results, with_predictions=True))
    for name, row in scored.items():
        ref = reference_of(row["settings"])
        if name == ref:
            continue
        if ref in scored and heads(results[ref]) == heads(row):
            by_reference.setdefault(ref, []).append(name)
        elif ref in scored and set(heads(row)) < set(heads(results[ref])):
            subsets.append((name, ref))
        else:
            not_paired.append(name)
    compared = {}
    for ref, names in by_reference.items():
        first = results[ref]["predictions"]
        stats = cluster_bootstrap(first["labels"], first["groups"],
                                  {n: results[n]["predictions"]["tflite_int8"] for n in [ref, *names]})
        compared.update({n: {"reference": ref, **stats[n][f"minus_{ref}"]} for n in names})
    for name, ref in subsets:
        own, position = results[name]["predictions"], {c: i for i, c in enumerate(heads(results[ref]))}
        reference_int8 = [results[ref]["predictions"]["tflite_int8"][position[c]] for c in own["crops"]]
        stats = cluster_bootstrap(own["labels"], own["groups"], {ref: reference_int8, name: own["tflite_int8"]})
        compared[name] = {"reference": ref, "heads": len(own["crops"]), **stats[name][f"minus_{ref}"]}
    return {"rows": compared, "not_paired": not_paired}


def across_splits(results: dict, recipe_of: Callable[[dict], str], reference: str) -> dict:
    """Recipes cross-validated on several fold splits: int8 balanced accuracy over all their splits (each
    head once per split) and minus the ``reference`` recipe on the same splits, paired on the same heads."""
    recipes: dict[str, dict[int, str]] = {}
    for name, row in rows_of(results, with_predictions=True):
        recipes.setdefault(recipe_of(row["settings"]), {})[row["settings"]["split_seed"]] = name
    reference_rows = recipes.get(reference, {})
    out = {}
    for recipe, rows in recipes.items():
        if len(rows) < 2 or not set(rows) <= set(reference_rows):
            continue
        seeds = sorted(rows)
        pairs = [(results[reference_rows[s]]["predictions"], results[rows[s]]["predictions"]) for s in seeds]
        if any(ref["crops"] != row["crops"] for ref, row in pairs):
            continue
        stats = cluster_bootstrap([y for ref, _ in pairs for y in ref["labels"]],
                                  [g for ref, _ in pairs for g in ref["groups"]],
                                  {reference: [p for ref, _ in pairs for p in ref["tflite_int8"]],
                                   recipe: [p for _, row in pairs for p in row["tflite_int8"]]})
        out[recipe] = {"split_seeds": seeds, "rows": [rows[s] for s in seeds], "crops": len(pairs[0][0]["labels"]) * len(seeds),
                       "tflite_int8": {k: v for k, v in stats[recipe].items() if not k.startswith("minus_")},
                       "minus_reference": stats[recipe].get(f"minus_{reference}") if recipe != reference else None}
    return out


def rows_of(results: dict, with_predictions: bool = False):
    return [(name, row) for name, row in results.items()
            if not name.startswith("_") and "settings" in row and (not with_predictions or "predictions" in row)]


def ci(stat: dict, fmt: str = ".3f") -> str:
    lo, hi = stat["ci"]
    return f"{stat['balanced_accuracy']:{fmt}} ({lo:{fmt}}–{hi:{fmt}})"


def pp(d: dict | None) -> str:
    if not d:
        return "–"
    return f"{100 * d['value']:+.1f} ({100 * d['ci'][0]:+.1f} to {100 * d['ci'][1]:+.1f})"


def versus_text(versus: dict | None) -> str:
    if not versus:
        return "–"
    return f"{pp(versus)} vs {versus['reference']}" + (" (recorded earlier)" if versus.get("recorded") else "")


def markdown(results: dict) -> str:
    compared = (results.get("_comparison") or {}).get("rows", {})
    rows = []
    for name, r in rows_of(results):
        versus = compared.get(name)
        datasets = ", ".join(f"{d} {v['tflite_int8']['balanced_accuracy']:.3f}" for d, v in r["per_dataset"].items())
        rows.append([name, str(len(r["folds"])), f"{r['crops']} ({r['photo_groups']})", ci(r["tflite_int8"]), ci(r["pytorch"]),
                     pp(r["tflite_int8"]["minus_pytorch"]), versus_text(versus),
                     f"{100 * r['int8_agreement']:.1f} %", datasets, f"{r['fit_seconds_median']:.0f}"])
    text = markdown_table(["row", "folds", "crops (photo groups)", "int8 balanced acc. (95 % CI)",
                           "float balanced acc. (95 % CI)", "int8 − float, pp (95 % CI)",
                           "int8 − reference row, pp (paired 95 % CI)", "int8 agreement", "int8 per dataset",
                           "median training (s)"], rows)
    repeated = results.get("_across_splits") or {}
    if repeated:
        text += "\n\nOver several fold splits (`--split-seed`), each head counted once per split:\n\n" + markdown_table(
            ["recipe", "fold splits (seeds)", "int8 balanced acc. (95 % CI)", "int8 − reference recipe, pp (paired 95 % CI)"],
            [[recipe, ", ".join(map(str, r["split_seeds"])), ci(r["tflite_int8"]), pp(r["minus_reference"])]
             for recipe, r in repeated.items()])
    return text
