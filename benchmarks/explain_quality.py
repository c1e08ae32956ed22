"""Do the explanations explain? Localisation, faithfulness and the randomisation check of every explainer, over the
cross-validated test crops, centred and off-centre.

    python -m benchmarks.explain_quality [--rows ROW ...] [--work runs/real_cv] [--sample N] [--sanity-sample M]
        [--margin 0.6] [--offset 0.6] [--overlays N]

For each fold's export of each row (``benchmarks.real_cv``) and each crop set (the fold's centred test crops, and
the same heads re-cropped with a wider margin and a seeded shift, as ``benchmarks.real_pointing`` makes them), the
class PyTorch predicts is explained by

* PyTorch: Grad-CAM and HiResCAM at each candidate layer (the last layer at output strides 4, 8 and 16, and the last
  layer: where both equal the exact CAM), and occlusion (``input/12`` px patches);
* the int8 model (LiteRT's default kernels): its exact CAM (last layer) and the same occlusion;
* baselines that ignore the model: a centre-peaked map and a random map;

and every map is scored with ``explain.quality`` (Quantus): pointing game (a flat map misses), relevance mass in the
head box, faithfulness (region perturbation AOPC on the runtime's own model, paired against the centre map), and,
for the PyTorch methods, the randomisation check (on the first ``--sanity-sample`` crops of each fold). The int8
maps are compared with PyTorch's of the same method: per-crop Spearman, and paired differences of each metric.
Folds are pooled (every rider head once); intervals resample photo groups. Each fold's scores are kept in
``<work>/<row>/fold<k>/explain_quality/`` and reused. The default map (``explain.layers.DEFAULT_MAP``) is the
gradient method with the highest faithfulness on centred crops among those that pass the randomisation check.
Writes benchmarks/results/explain_quality.json and .md; ``--overlays N`` draws the first N off-centre crops of fold
0 with the default map for docs/images/.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from data.images import expand_paths, load_images
from data.manifest import read_manifest
from explain.export_explainers import check_export, load_explainers
from explain.intervals import cluster_mean_ci
from explain.layers import layer_names, resolve_layer
from explain import metrics
from explain.metrics import spearman
from explain.occlusion import TorchOcclusion
from explain.quality import (LogitsModule, PerturbationSettings, centre_maps, faithfulness, is_flat, pointing_game,
                             random_maps, randomisation, relevance_mass, upsampled)
from explain.tflite_cam import TFLiteCam
from explain.torch_gradcam import TorchGradCam
from explain.verdict import sanity_method

from .real_pointing import fold_crops, off_centre_crops
from .report import REPO, RESULTS, markdown_table, relative, write_results

CROP_SETS = ("centred", "off_centre")
SCORES_DIR = "explain_quality"


def candidate_layers(model, arch: str, size: int) -> list[str]:
    """The last layer at output strides 4, 8 and 16, and the last layer (each once)."""
    names = layer_names(model)
    by_stride: dict[float, str] = {}
    for name in names:
        by_stride[resolve_layer(model, arch, size, name).geometry.stride] = name  # the last one at each stride wins
    return list(dict.fromkeys([by_stride[s] for s in (4.0, 8.0, 16.0) if s in by_stride] + [names[-1]]))


def explainers_of(export: Path, patch: int) -> tuple[object, dict]:
    """(the export's explainers at the default layer, {name: (runtime, explainer)}) for every method measured."""
    runtimes = load_explainers(export, saved_model=False, layer=_last(export))
    loaded, spec = runtimes.model, runtimes.spec
    found = {}
    for layer in candidate_layers(loaded.model, loaded.arch, spec.input_size):
        last = layer == layer_names(loaded.model)[-1]
        for method in ("gradcam",) if last else ("gradcam", "hirescam"):
            found[f"{method}@{layer}"] = ("pytorch", TorchGradCam(None, spec, layer=layer, method=method, loaded=loaded))
    found["occlusion"] = ("pytorch", TorchOcclusion(loaded, spec, patch))
    found["int8 cam"] = ("tflite_int8", runtimes.explainers["tflite_int8"])
    found["int8 occlusion"] = ("tflite_int8", TFLiteCam(runtimes.explainers["tflite_int8"].path, spec,
                                                       force_occlusion=True, occlusion_patch=patch))
    return runtimes, found


def _last(export: Path) -> str:
    from lightning_modules.checkpoint import load_classifier

    return layer_names(load_classifier(export / "model.pt").model)[-1]


def score_fold(export: Path, crops: Path, args: argparse.Namespace) -> dict:
    """Per-crop scores of every explainer and baseline on one fold's crop set."""
    started, cpu = time.perf_counter(), time.process_time()
    spec = check_export(export)
    settings = PerturbationSettings.for_size(spec.input_size)
    runtimes, found = explainers_of(export, settings.patch)
    images = load_images(expand_paths([crops]), spec)
    order = np.random.default_rng(args.seed).permutation(len(images))[: args.sample or None]
    images = images.subset(np.sort(order))
    manifest = read_manifest(crops.parent / "manifest.csv")
    names = [p.resolve().relative_to(crops.parent.resolve()).as_posix() for p in images.paths]
    pixels, boxes, size = images.pixels, images.boxes, spec.input_size
    targets = runtimes.explainers["pytorch"].attribute(pixels).targets  # PyTorch's predicted class, for every map
    models = {"pytorch": runtimes.model.model, "tflite_int8": LogitsModule(runtimes.explainers["tflite_int8"].runner.logits)}
    k = min(args.sanity_sample, len(pixels))
    scores: dict = {"crops": names, "groups": [manifest[n]["photo_group"] for n in names], "maps": {},
                    "settings": settings.describe(), "sanity_images": k}
    native = {}
    for name, (runtime, explainer) in found.items():
        attribution = explainer.attribute(pixels, targets)
        native[name] = attribution
        maps = upsampled(attribution.maps, size, attribution.geometry)
        entry = _score_maps(maps, pixels, boxes, targets, models[runtime], settings)
        entry["hand_written"] = _hand_written(maps, boxes, entry)
        entry.update(runtime=runtime, method=attribution.method, note=attribution.note,
                     cells=int(attribution.maps.shape[-1]), geometry=vars(attribution.geometry) if attribution.geometry else None)
        if runtime == "pytorch":
            what, explain = sanity_method(explainer, runtimes.model, spec)
            entry["sanity_method"] = what
            entry["sanity"] = randomisation(runtimes.model.model, explain, pixels[:k], targets[:k]).tolist()
        scores["maps"][name] = entry
    naive = upsampled(native["int8 cam"].maps, size, None)  # the same maps on naive tiles: what padding-blind
    scores["maps"]["int8 cam, naive upsampling"] = {**_score_maps(naive, pixels, boxes, targets, models["tflite_int8"],
                                                                  settings), "runtime": "tflite_int8", "method": "cam",
                                                    "cells": scores["maps"]["int8 cam"]["cells"]}
    for name, maps in (("centre map", centre_maps(len(pixels), size)),
                       ("random map", random_maps(len(pixels), size, settings.patch, args.seed))):
        for runtime, model in models.items():
            entry = _score_maps(maps, pixels, boxes, targets, model, settings)
            scores["maps"][name if runtime == "pytorch" else f"int8 {name}"] = {**entry, "runtime": runtime, "method": name}
    scores["parity"] = {"int8 cam vs gradcam@" + layer_names(runtimes.model.model)[-1]:
                        _spearmans(native["int8 cam"], native[f"gradcam@{layer_names(runtimes.model.model)[-1]}"]),
                        "int8 occlusion vs occlusion": _spearmans(native["int8 occlusion"], native["occlusion"])}
    scores["seconds"], scores["cpu_seconds"] = time.perf_counter() - started, time.process_time() - cpu
    return scores


def _spearmans(a, b) -> list[float]:
    return [spearman(x, y) for x, y in zip(a.maps, b.maps)]


def _hand_written(maps, boxes, entry) -> dict:
    """How the metrics Quantus replaced (explain.metrics' pointing_hit and energy_in_box) score the same maps."""
    ours = np.array([float(metrics.pointing_hit(m, b)) for m, b in zip(maps, boxes)])
    mass = np.array([metrics.energy_in_box(m, b) for m, b in zip(maps, boxes)])
    return {"pointing_same": int((ours == np.array(entry["pointing"])).sum()),
            "mass_max_abs_diff": float(np.max(np.abs(mass - np.array(entry["mass"]))))}


def _score_maps(maps, pixels, boxes, targets, model, settings) -> dict:
    return {"pointing": pointing_game(maps, boxes).tolist(), "mass": relevance_mass(maps, boxes).tolist(),
            "flat": is_flat(maps).tolist(), "aopc": faithfulness(model, pixels, maps, targets, settings).tolist()}


def fold_scores(row: str, k: int, crop_set: str, args: argparse.Namespace) -> dict:
    """One fold's scores, computed once and kept beside its export."""
    path = args.work / row / f"fold{k}" / SCORES_DIR / f"{crop_set}_n{args.sample or 'all'}.json"
    if path.is_file():
        return json.loads(path.read_text())
    export = args.work / row / f"fold{k}" / "export"
    crops = fold_crops(args.work, k)
    if crop_set == "off_centre":
        settings = json.loads((crops / "prepare_report.json").read_text())["settings"]
        test = off_centre_crops(args.root, args.work, k, settings, args.margin, args.offset)
    else:
        test = crops / "test"
    scores = score_fold(export, test, args)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(scores) + "\n")
    return scores


def pool(folds: list[dict]) -> dict:
    """Every map's metrics over all folds, with photo-group intervals; faithfulness also paired against the
    centre map on the same runtime's model; int8 against PyTorch of the same method."""
    groups = [g for f in folds for g in f["groups"]]
    out = {"crops": len(groups), "photo_groups": len(set(groups)), "cpu_seconds": sum(f["cpu_seconds"] for f in folds),
           "settings": folds[0]["settings"], "maps": {}, "parity": {},
           "hand_written_metrics": {  # explain.metrics' pointing game and energy in box against Quantus's, every map
               "maps_scored": sum(len(f["groups"]) for f in folds for m in f["maps"].values() if "hand_written" in m),
               "pointing_same": sum(m["hand_written"]["pointing_same"] for f in folds for m in f["maps"].values()
                                    if "hand_written" in m),
               "mass_max_abs_diff": max((m["hand_written"]["mass_max_abs_diff"] for f in folds for m in f["maps"].values()
                                         if "hand_written" in m), default=None)}}
    joined = {name: {key: [v for f in folds for v in f["maps"][name][key]] for key in ("pointing", "mass", "flat", "aopc")}
              for name in folds[0]["maps"]}
    for name, values in joined.items():
        meta = folds[0]["maps"][name]
        centre = joined["centre map" if meta["runtime"] == "pytorch" else "int8 centre map"]
        block = {"runtime": meta["runtime"], "method": meta["method"], "cells": meta.get("cells"),
                 "pointing_game": cluster_mean_ci(values["pointing"], groups),
                 "flat_share": float(np.mean(values["flat"])),
                 "relevance_mass": cluster_mean_ci(values["mass"], groups),
                 "faithfulness": cluster_mean_ci(values["aopc"], groups),
                 "faithfulness_minus_centre_map": cluster_mean_ci(np.subtract(values["aopc"], centre["aopc"]), groups)}
        if "sanity" in meta:
            rho = [v for f in folds for v in f["maps"][name]["sanity"]]
            block["sanity"] = {"method": meta["sanity_method"], "images": len(rho), "spearman_median": float(np.median(rho)),
                               "spearman_max": float(np.max(rho))}
        out["maps"][name] = block
    for pair, _ in folds[0]["parity"].items():
        rho = [v for f in folds for v in f["parity"][pair]]
        int8, torch_name = pair.split(" vs ")
        out["parity"][pair] = {"spearman_median": float(np.median(rho)), "spearman_min": float(np.min(rho)),
                               **{f"{m}_int8_minus_pytorch": cluster_mean_ci(
                                   np.subtract(joined[int8][key], joined[torch_name][key]), groups)
                                  for m, key in (("pointing_game", "pointing"), ("relevance_mass", "mass"),
                                                 ("faithfulness", "aopc"))}}
    return out


def default_map(centred: dict) -> str | None:
    """The gradient method with the highest faithfulness on centred crops among those whose randomisation check
    passes (median Spearman <= 0.3)."""
    from explain.quality import SANITY_MAX

    candidates = {name: b for name, b in centred["maps"].items()
                  if b["method"] in ("gradcam", "hirescam") and b.get("sanity", {}).get("spearman_median", 1) <= SANITY_MAX}
    return max(candidates, key=lambda n: candidates[n]["faithfulness"]["mean"]) if candidates else None


def draw_overlays(row: str, name: str, n: int, args: argparse.Namespace) -> list[str]:
    """The README's pictures, by a rule: of fold 0's off-centre test crops in path order, the first ``ceil(n/2)``
    helmet and the first ``floor(n/2)`` no_helmet crops, each explained with map ``name`` (``method@layer``) in
    PyTorch and, through occlusion, on the int8 model. Returns the written files (docs/images/explain_<row>_<i>.png)."""
    import shutil
    import tempfile

    from explain.outputs import write_outputs
    from explain.parity import explain_images

    method, layer = name.split("@")
    export = args.work / row / "fold0" / "export"
    settings = json.loads((fold_crops(args.work, 0) / "prepare_report.json").read_text())["settings"]
    crops = off_centre_crops(args.root, args.work, 0, settings, args.margin, args.offset)
    runtimes = load_explainers(export, saved_model=False, layer=layer, method=method)
    chosen = expand_paths([crops / "helmet"])[: (n + 1) // 2] + expand_paths([crops / "no_helmet"])[: n // 2]
    images = load_images(chosen, runtimes.spec)
    report = explain_images(runtimes, images.pixels, images.boxes, names=[p.name for p in images.paths])
    docs = REPO / "docs" / "images"
    docs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        written = write_outputs(report, images.pixels, tmp)
        paths = []
        for i, overlay in enumerate(written["overlays"]):
            paths.append(docs / f"explain_{row}_{i}.png")
            shutil.copyfile(overlay, paths[-1])
    return [relative(p) for p in paths]


def ci(block: dict, fmt: str = ".2f") -> str:
    return f"{block['mean']:{fmt}} ({block['ci'][0]:{fmt}}–{block['ci'][1]:{fmt}})"


def markdown(results: dict) -> str:
    tables = []
    for row, by_set in results.items():
        if row.startswith("_"):
            continue
        for crop_set, r in by_set.items():
            if crop_set.startswith("_"):
                continue
            rows = [[name, b["cells"] or "–", ci(b["pointing_game"]), f"{b['flat_share']:.2f}", ci(b["relevance_mass"]),
                     ci(b["faithfulness"], ".3f"), ci(b["faithfulness_minus_centre_map"], "+.3f"),
                     f"{b['sanity']['spearman_median']:.2f}" if "sanity" in b else "–"]
                    for name, b in r["maps"].items()]
            tables.append(f"**{row}, {crop_set} crops** ({r['crops']} crops, {r['photo_groups']} photo groups; "
                          f"{r['settings']}; {r['cpu_seconds'] / 60:.0f} CPU min)\n\n" + markdown_table(
                              ["map", "cells", "pointing game", "flat share", "relevance mass", "faithfulness (AOPC)",
                               "AOPC − centre map", "randomisation ρ (median)"], rows))
            parity = [[pair, f"{p['spearman_median']:.2f}", f"{p['spearman_min']:.2f}",
                       ci(p["pointing_game_int8_minus_pytorch"], "+.3f"), ci(p["relevance_mass_int8_minus_pytorch"], "+.3f"),
                       ci(p["faithfulness_int8_minus_pytorch"], "+.3f")] for pair, p in r["parity"].items()]
            tables.append(markdown_table(["int8 vs PyTorch", "Spearman median", "Spearman min", "pointing game diff",
                                          "relevance mass diff", "faithfulness diff"], parity))
        if "_default" in by_set:
            tables.append(f"Default map of {row} (highest centred faithfulness that passes the randomisation check): "
                          f"**{by_set['_default']}**")
    return "\n\n".join(tables)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.explain_quality", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", default=["slim_mobilenet_distilled_slim_mobilenet"],
                        help="cross-validated rows (benchmarks.real_cv) in --work")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "real_cv")
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data" / "helmet-kaggle-voc")
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--sample", type=int, default=0, help="crops per fold and crop set (0: all)")
    parser.add_argument("--sanity-sample", type=int, default=32, help="crops per fold for the randomisation check")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--margin", type=float, default=0.6, help="crop margin of the off-centre crops")
    parser.add_argument("--offset", type=float, default=0.6, help="largest shift, in box widths/heights")
    parser.add_argument("--overlays", type=int, default=0,
                        help="draw the first N off-centre crops of fold 0 of each row with its default map to docs/images/")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results = json.loads((args.out / "explain_quality.json").read_text()) if (args.out / "explain_quality.json").is_file() else {}
    for row in args.rows:
        results[row] = {crop_set: pool([fold_scores(row, k, crop_set, args) for k in args.folds]) for crop_set in CROP_SETS}
        results[row]["_default"] = default_map(results[row]["centred"])
        if args.overlays and results[row]["_default"]:
            results[row]["_overlays"] = draw_overlays(row, results[row]["_default"], args.overlays, args)
    results["_settings"] = {"margin": args.margin, "offset": args.offset, "sample": args.sample,
                            "sanity_sample": args.sanity_sample, "work": relative(args.work)}
    write_results(args.out, "explain_quality", results, markdown(results))


if __name__ == "__main__":
    main()
