"""Can a person trust a runtime's maps? Faithful, localised, sane: measured (``quality``) and said in one line.

For each runtime of an export, on the images explained:

* **faithful**: region perturbation of its map removes the explained class's probability faster than of a
  centre-peaked map, on that runtime's own model (the int8 interpreter for int8 maps): the mean paired AOPC
  difference has a 95 % interval above 0 (images resampled by photo group when groups are known);
* **localised**: pointing game >= ``LOCALISED_MIN`` on the images with head boxes ("n/a" without any);
* **sanity check**: the map changes when the model's weights are randomised (median Spearman <= 0.3, Quantus
  MPRT). It runs in PyTorch: on the runtime's own method, or, for the int8 model, on the PyTorch method it
  equals (exact CAM = Grad-CAM at the last layer) or repeats (the same occlusion).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from data.preprocessing import PreprocessSpec
from lightning_modules.checkpoint import LoadedClassifier

from .attribution import Attribution
from .export_explainers import ExportExplainers
from .geometry import upsample
from .intervals import cluster_mean_ci
from .layers import Layer, layer_names, resolve_layer
from .occlusion import TorchOcclusion, occlusion_geometry, occlusion_map, torch_logits_fn
from .quality import (SANITY_MAX, LogitsModule, PerturbationSettings, centre_maps, faithfulness, is_flat,
                      pointing_game, randomisation, relevance_mass, upsampled)
from .torch_gradcam import TorchGradCam, layer_map

LOCALISED_MIN = 0.80
SANITY_SAMPLE = 32  # images the randomisation check runs on (it explains every image twice more)
MapFunction = Callable[[torch.nn.Module, np.ndarray, np.ndarray], np.ndarray]


def runtime_model(runtimes: ExportExplainers, name: str) -> torch.nn.Module:
    """The model a runtime's maps are judged on: PyTorch's classifier, or the int8 interpreter as a module."""
    explainer = runtimes.explainers[name]
    runner = getattr(explainer, "runner", None)
    return LogitsModule(runner.logits) if runner is not None else runtimes.model.model


def _gradcam_maps(layer: Layer, method: str, size: int) -> MapFunction:
    return lambda model, x, targets: upsample(
        layer_map(model, model.get_submodule(layer.name), torch.from_numpy(x), targets, method), size, layer.geometry)


def _occlusion_maps(patch: int, spec: PreprocessSpec) -> MapFunction:
    geometry = occlusion_geometry(spec.input_size, patch)

    def maps(model, x, targets):
        pixels = np.clip(np.rint(x.transpose(0, 2, 3, 1) * 255), 0, 255).astype(np.uint8)
        logits = torch_logits_fn(model, spec)
        return upsample(np.stack([occlusion_map(logits, p, logits(p[None])[0], int(t), patch)
                                  for p, t in zip(pixels, targets)]), spec.input_size, geometry)
    return maps


def sanity_method(explainer, loaded: LoadedClassifier, spec: PreprocessSpec) -> tuple[str, MapFunction] | None:
    """(what runs, maps of any PyTorch model) of the method the randomisation check of ``explainer`` uses: its
    own in PyTorch, or, for the int8 model, the PyTorch method its maps equal (exact CAM: Grad-CAM at the last
    layer of ``loaded``) or repeat (the same occlusion)."""
    if isinstance(explainer, TorchGradCam):
        return (f"PyTorch {explainer.method} at {explainer.layer.name}",
                _gradcam_maps(explainer.layer, explainer.method, spec.input_size))
    if isinstance(explainer, TorchOcclusion):
        return f"PyTorch occlusion ({explainer.patch} px)", _occlusion_maps(explainer.patch, spec)
    if explainer.method == "cam":
        last = resolve_layer(loaded.model, loaded.arch, spec.input_size, layer_names(loaded.model)[-1])
        return (f"PyTorch Grad-CAM at {last.name}, which the exact CAM equals",
                _gradcam_maps(last, "gradcam", spec.input_size))
    if explainer.method == "occlusion":
        return (f"PyTorch occlusion ({explainer.cell} px), which the int8 occlusion repeats",
                _occlusion_maps(explainer.cell, spec))
    return None


def judge(runtimes: ExportExplainers, attributions: dict[str, Attribution], pixels: np.ndarray, boxes=None,
          groups=None, settings: PerturbationSettings | None = None, sanity_sample: int = SANITY_SAMPLE) -> dict:
    """Per runtime: the measured figures and a one-line verdict (``verdict_line``)."""
    size = runtimes.spec.input_size
    settings = settings or PerturbationSettings.for_size(size)
    boxed = [i for i, b in enumerate(boxes or []) if b is not None]  # localisation: the images with a head box
    centre = centre_maps(len(pixels), size)
    out = {"settings": {"faithfulness": settings.describe(), "localised_min": LOCALISED_MIN, "sanity_max": SANITY_MAX,
                        "sanity": "Quantus MPRT, every layer re-initialised top-down (seed 42), Spearman of abs maps "
                                  f"normalised by their maximum, on the first {sanity_sample} images"},
           "runtimes": {}}
    for name, attribution in attributions.items():
        maps = upsampled(attribution.maps, size, attribution.geometry)
        model = runtime_model(runtimes, name)
        aopc = faithfulness(model, pixels, maps, attribution.targets, settings)
        aopc_centre = faithfulness(model, pixels, centre, attribution.targets, settings)
        block = {"method": attribution.method, "images": len(pixels), "flat_share": float(is_flat(maps).mean()),
                 "faithfulness": cluster_mean_ci(aopc, groups), "faithfulness_centre_map": cluster_mean_ci(aopc_centre, groups),
                 "faithfulness_minus_centre_map": cluster_mean_ci(aopc - aopc_centre, groups)}
        if boxed:
            in_box, their_groups = [boxes[i] for i in boxed], None if groups is None else [groups[i] for i in boxed]
            block["pointing_game"] = cluster_mean_ci(pointing_game(maps[boxed], in_box), their_groups)
            block["pointing_game_centre_map"] = cluster_mean_ci(pointing_game(centre[boxed], in_box), their_groups)
            block["relevance_mass"] = cluster_mean_ci(relevance_mass(maps[boxed], in_box), their_groups)
        sanity = sanity_method(runtimes.explainers[name], runtimes.model, runtimes.spec)
        if sanity is not None:
            what, explain = sanity
            k = min(sanity_sample, len(pixels))
            rho = randomisation(runtimes.model.model, explain, pixels[:k], attribution.targets[:k])
            block["sanity"] = {"method": what, "images": k, "spearman_median": float(np.median(rho)),
                               "spearman_max": float(np.max(rho))}
        block["verdict"] = verdict_line(name, block)
        out["runtimes"][name] = block
    return out


def verdict_line(name: str, block: dict) -> str:
    method = block["method"]
    diff = block["faithfulness_minus_centre_map"]
    faithful = diff["ci"][0] is not None and diff["ci"][0] > 0
    parts = [f"{'faithful' if faithful else 'not shown faithful'} ({method}: AOPC {block['faithfulness']['mean']:.3f} "
             f"vs centre map {block['faithfulness_centre_map']['mean']:.3f}, difference {diff['mean']:+.3f} "
             f"[{diff['ci'][0]:+.3f}, {diff['ci'][1]:+.3f}])"]
    if "pointing_game" in block:
        pg = block["pointing_game"]["mean"]
        parts.append(f"{'localised' if pg >= LOCALISED_MIN else 'not localised'} ({method}: pointing game {pg:.2f}, "
                     f"needs {LOCALISED_MIN:.2f}; centre map {block['pointing_game_centre_map']['mean']:.2f})")
    else:
        parts.append("localised: n/a (no head boxes)")
    sanity = block.get("sanity")
    if sanity is None:
        parts.append("sanity check: not run")
    else:
        passed = sanity["spearman_median"] <= SANITY_MAX
        parts.append(f"sanity check {'passed' if passed else 'failed'} ({sanity['method']}: Spearman to the randomised "
                     f"model's map {sanity['spearman_median']:.2f}, needs <= {SANITY_MAX})")
    return f"{name}: " + "; ".join(parts)
