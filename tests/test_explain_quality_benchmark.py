"""benchmarks.explain_quality's pooling and its rule for the default map, on made-up folds whose answers are known."""

from __future__ import annotations

import pytest

from benchmarks.explain_quality import candidate_layers, default_map, markdown, pool
from lightning_modules.models import build_model


def fold(groups, maps, parity=None):
    return {"groups": groups, "maps": maps, "parity": parity or {}, "cpu_seconds": 60.0, "settings": "s"}


def entry(runtime, method, pointing, aopc, sanity=None):
    n = len(pointing)
    out = {"runtime": runtime, "method": method, "cells": 12, "pointing": pointing, "mass": [0.5] * n,
           "flat": [False] * n, "aopc": aopc}
    if sanity is not None:
        out.update(sanity=sanity, sanity_method=f"PyTorch {method}")
    return out


def made_up_folds():
    a = fold(["p1", "p1", "p2"], {
        "gradcam@features.5": entry("pytorch", "gradcam", [1, 0, 1], [0.3, 0.3, 0.3], sanity=[0.1, 0.2]),
        "hirescam@features.5": entry("pytorch", "hirescam", [1, 1, 1], [0.5, 0.5, 0.5], sanity=[0.9, 0.8]),
        "int8 occlusion": entry("tflite_int8", "occlusion", [1, 1, 0], [0.4, 0.4, 0.4]),
        "occlusion": entry("pytorch", "occlusion", [1, 1, 1], [0.45, 0.4, 0.4], sanity=[0.0, 0.1]),
        "centre map": entry("pytorch", "centre map", [1, 1, 1], [0.2, 0.2, 0.2]),
        "int8 centre map": entry("tflite_int8", "centre map", [1, 1, 1], [0.25, 0.2, 0.2])},
        {"int8 occlusion vs occlusion": [0.9, 0.8, 0.7]})
    b = fold(["p3"], {name: {**e, **{k: e[k][:1] for k in ("pointing", "mass", "flat", "aopc")}}
                      for name, e in a["maps"].items()}, {"int8 occlusion vs occlusion": [0.5]})
    return [a, b]


def test_pooling_joins_every_fold_and_pairs_faithfulness_with_the_same_runtimes_centre_map():
    pooled = pool(made_up_folds())
    assert pooled["crops"] == 4 and pooled["photo_groups"] == 3 and pooled["cpu_seconds"] == 120.0
    gradcam = pooled["maps"]["gradcam@features.5"]
    assert gradcam["pointing_game"]["mean"] == pytest.approx(3 / 4)
    assert gradcam["faithfulness_minus_centre_map"]["mean"] == pytest.approx(0.1)
    int8 = pooled["maps"]["int8 occlusion"]  # paired with the int8 model's own centre map
    assert int8["faithfulness_minus_centre_map"]["mean"] == pytest.approx(0.4 - (0.25 + 0.2 + 0.2 + 0.25) / 4)
    assert gradcam["sanity"]["images"] == 4 and gradcam["sanity"]["spearman_median"] == pytest.approx(0.15)
    parity = pooled["parity"]["int8 occlusion vs occlusion"]
    assert parity["spearman_min"] == 0.5 and parity["pointing_game_int8_minus_pytorch"]["mean"] == pytest.approx(-0.25)
    assert "| gradcam@features.5 | 12 | 0.75" in markdown({"row": {"centred": pooled}})


def test_the_default_is_the_most_faithful_gradient_map_that_passes_the_randomisation_check():
    pooled = pool(made_up_folds())
    # hirescam is more faithful but its maps survive randomisation (median 0.85); occlusion is not a gradient map
    assert default_map(pooled) == "gradcam@features.5"


def test_candidate_layers_are_the_last_of_strides_4_8_16_and_the_last_layer():
    model = build_model("slim_mobilenet").eval()
    assert candidate_layers(model, "slim_mobilenet", 96) == ["features.3", "features.5", "features.10"]
    assert candidate_layers(build_model("mobilenet_v2").eval(), "mobilenet_v2", 160) == [
        "features.3", "features.6", "features.13", "features.18"]
