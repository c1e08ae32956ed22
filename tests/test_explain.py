"""Explanation parity (explain/): every explainer's one call, PyTorch Captum vs int8 TFLite CAM vs SavedModel
GradientTape on a real tiny export, and an orchestrator that does not care which explainers it gets."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from data.errors import ConfigError
from data.synthetic import generate
from explain import metrics
from explain.export_explainers import load_explainers
from explain.outputs import write_outputs
from explain.parity import explain_images
from explain.synthetic_split import explain_synthetic
from explain.tflite_cam import TFLiteCam, cam_from_activations
from explain.torch_gradcam import analytic_cam
from export.layout import ExportDir

N_SYNTHETIC = 24
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Statistics for quantized inputs:UserWarning")]
SUMMARY_KEYS = {"images", "target", "reference", "input_size", "arch", "map_shape", "methods", "method_notes",
                "explained_class_same_share", "predicted_same_class_share", "empty_maps", "parity",
                "parity_same_prediction", "pointing_game", "energy_in_box", "seconds", "synthetic", "pairs"}


# --- shared, built once -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runtimes(tiny_export):
    return load_explainers(tiny_export.out)


@pytest.fixture(scope="module")
def float_cam(runtimes, tiny_export):
    """The float32 TFLite model, explained by the same class as the int8 one."""
    return TFLiteCam(ExportDir(tiny_export.out).artifact("tflite_float32"), runtimes.spec)


@pytest.fixture(scope="module")
def synthetic_report(runtimes):
    report, images = explain_synthetic(runtimes, n=N_SYNTHETIC)
    assert len(images) == N_SYNTHETIC and len(images.boxes) == N_SYNTHETIC
    return report


@pytest.fixture(scope="module")
def grid(runtimes):
    """Feature-map side from the PyTorch model itself (6 for the slim model at 96 px)."""
    size = runtimes.spec.input_size
    with torch.no_grad():
        return runtimes.model.model.forward_features(torch.zeros(1, 3, size, size)).shape[-1]


@pytest.fixture(scope="module")
def test_pixels(runtimes):
    images, _, _ = generate(8, seed=0, size=runtimes.spec.input_size, start=900, return_boxes=True)
    return images


def _nchw(runtimes, pixels) -> torch.Tensor:
    return torch.from_numpy(runtimes.spec.to_float_nchw(pixels))


# --- the numbers --------------------------------------------------------------------------------
def test_int8_cam_matches_pytorch_gradcam(synthetic_report, grid):
    s = synthetic_report["summary"]
    assert s["images"] == N_SYNTHETIC and s["reference"] == "pytorch"
    assert s["methods"] == {"pytorch": "gradcam", "saved_model": "gradcam", "tflite_int8": "cam"}
    assert s["map_shape"]["pytorch"] == s["map_shape"]["tflite_int8"] == [grid, grid]
    int8 = s["parity"]["pytorch_vs_tflite_int8"]
    assert int8["pearson"]["median"] >= 0.9, int8
    assert int8["top20_iou"]["median"] >= 0.6, int8
    assert int8["peak_distance_cells"]["median"] <= 1.0, int8


def test_saved_model_gradcam_matches_pytorch(synthetic_report):
    sm = synthetic_report["summary"]["parity"]["pytorch_vs_saved_model"]
    assert sm["pearson"]["median"] >= 0.99, sm
    assert sm["pearson"]["worst"] >= 0.98, sm
    assert synthetic_report["summary"]["predicted_same_class_share"]["saved_model"] == 1.0


def test_report_is_complete_json(synthetic_report):
    s = synthetic_report["summary"]
    assert set(s) == SUMMARY_KEYS
    assert s["explained_class_same_share"] == 1.0  # every runtime explained PyTorch's class
    assert s["pointing_game"]["images_with_boxes"] == N_SYNTHETIC
    for k in ("pytorch", "tflite_int8", "saved_model"):
        assert 0.0 <= s["pointing_game"][k] <= 1.0
        assert 0.0 <= s["energy_in_box"][k] <= 1.0
    boxes = [r["box"] for r in synthetic_report["images"]]
    centre = s["input_size"] // 2 + 0.5  # the centre pixel's centre, as the pointing game tests it
    assert s["pointing_game"]["content_free_baseline"] == pytest.approx(
        np.mean([x0 <= centre <= x1 and y0 <= centre <= y1 for x0, y0, x1, y1 in boxes]))
    # the int8 maps put the same share of their energy on the head as PyTorch's (the tiny model is too weak to
    # beat a uniform map reliably; benchmarks.real_pointing measures that on a fully trained one)
    assert s["energy_in_box"]["content_free_baseline"] > 0.0
    assert s["energy_in_box"]["tflite_int8"] == pytest.approx(s["energy_in_box"]["pytorch"], abs=0.05), s["energy_in_box"]
    assert 0.0 <= s["predicted_same_class_share"]["tflite_int8"] <= 1.0
    first = synthetic_report["images"][0]
    assert first["target"]["class"] == first["runtimes"]["pytorch"]["predicted"]  # target=predicted: PyTorch's class
    json.dumps(synthetic_report)


# --- one call for every explainer -----------------------------------------------------------------
def test_every_explainer_answers_the_same_call(runtimes, float_cam, test_pixels, grid):
    n = len(test_pixels)
    for name, explainer in {**runtimes.explainers, "tflite_float32": float_cam}.items():
        own = explainer.attribute(test_pixels)
        assert own.maps.dtype == np.float32 and own.maps.shape == (n, grid, grid), name
        assert own.logits.dtype == np.float32 and own.logits.shape == (n, 2), name
        np.testing.assert_array_equal(own.targets, own.logits.argmax(1))  # default: its own prediction
        assert own.method == explainer.method and own.note == explainer.note and "\n" not in own.note
        per_image = np.arange(n) % 2
        chosen = explainer.attribute(test_pixels, per_image)
        np.testing.assert_array_equal(chosen.targets, per_image)
        np.testing.assert_allclose(chosen.logits, own.logits, atol=1e-6)  # the target does not change the model
        other = explainer.attribute(test_pixels, 1 - per_image)
        assert not np.allclose(chosen.maps, other.maps), f"{name}: both classes give the same maps"
    with pytest.raises(ValueError, match="uint8"):
        runtimes.explainers["tflite_int8"].attribute(test_pixels.astype(np.float32))


# --- the formulas -------------------------------------------------------------------------------
def test_captum_gradcam_equals_analytic_cam(runtimes, test_pixels, grid):
    """For GAP + linear, Grad-CAM == ReLU(W_c . A / (h*w)): proves the gradient-free int8 recipe."""
    model, x = runtimes.model.model, _nchw(runtimes, test_pixels)
    for target in (0, 1, np.arange(len(x)) % 2):
        captum_map = runtimes.explainers["pytorch"].attribute(test_pixels, target).maps
        analytic = analytic_cam(model, x, target)
        assert captum_map.shape == (len(x), grid, grid)
        np.testing.assert_allclose(captum_map, analytic, atol=1e-5, rtol=0)
    assert analytic.max() > 0  # not a vacuous comparison of zeros


def test_tflite_cam_formula_on_float_model(runtimes, float_cam, test_pixels):
    """The TFLite CAM code on the float TFLite model equals the PyTorch CAM, and its cells sum to the logit."""
    assert float_cam.method == "cam" and float_cam.head.activation_scale == 0.0
    model, x = runtimes.model.model, _nchw(runtimes, test_pixels)
    for target in (0, 1):
        maps = float_cam.attribute(test_pixels, target).maps
        reference = analytic_cam(model, x, target)
        np.testing.assert_allclose(maps, reference, atol=1e-4 * max(1.0, reference.max()), rtol=0)
    for image in test_pixels[:4]:  # CAM identity: sum of pre-ReLU cells + bias = logit
        a, lg = float_cam.activations(image)
        for c in (0, 1):
            total = cam_from_activations(a, float_cam.head.weights[c], relu=False).sum() + float_cam.head.bias[c]
            assert abs(total - lg[c]) < 1e-4 * max(1.0, abs(lg[c]))


def test_int8_cam_is_close_to_float_cam_and_reconstructs_logits(runtimes, float_cam, test_pixels):
    int8 = runtimes.explainers["tflite_int8"]
    assert int8.head.activation_scale > 0
    assert int8.head.weights.shape == (2, runtimes.model.model.classifier.in_features)
    int8_attribution = int8.attribute(test_pixels, 0)
    float_maps = float_cam.attribute(test_pixels, 0).maps
    assert np.median([metrics.pearson(a, b) for a, b in zip(int8_attribution.maps, float_maps)]) >= 0.9
    out_scale, out_zero = int8.runner.output["quantization"]
    out_min, out_max = (-128 - out_zero) * out_scale, (127 - out_zero) * out_scale  # int8 output saturates
    assert int8.head.pooled_scale > 0
    for image, lg in zip(test_pixels[:4], int8_attribution.logits):
        a, _ = int8.activations(image)
        for c in (0, 1):
            total = cam_from_activations(a, int8.head.weights[c], relu=False).sum() + int8.head.bias[c]
            # the int8 FC reads the MEAN rounded to its own step (error <= step / 2 per channel) and
            # rounds its result to the output step: sum of cells + bias = logit within that bound
            bound = 0.5 * int8.head.pooled_scale * np.abs(int8.head.weights[c]).sum() + 2 * out_scale
            assert abs(np.clip(total, out_min, out_max) - lg[c]) <= bound, (total, lg[c], bound)


def test_fixed_target_explains_that_class_everywhere(runtimes, test_pixels):
    without_saved_model = replace(runtimes, explainers={k: e for k, e in runtimes.explainers.items()
                                                        if k != "saved_model"})
    report = explain_images(without_saved_model, test_pixels[:3], target="no_helmet")
    assert {r["target"]["class"] for r in report["images"]} == {"no_helmet"}
    assert set(report["summary"]["methods"]) == {"pytorch", "tflite_int8"}
    np.testing.assert_allclose(np.array([r["runtimes"]["pytorch"]["map"] for r in report["images"]]),
                               analytic_cam(runtimes.model.model, _nchw(runtimes, test_pixels[:3]), 1), atol=1e-5)
    with pytest.raises(ConfigError, match="target"):
        explain_images(runtimes, test_pixels[:1], target="hat")


# --- the orchestrator knows no explainer by name ------------------------------------------------------
def test_a_fourth_runtime_needs_no_orchestrator_change(runtimes, float_cam, test_pixels, tmp_path):
    pixels = test_pixels[:4]
    three = explain_images(runtimes, pixels)
    four = explain_images(replace(runtimes, explainers={**runtimes.explainers, "tflite_float32": float_cam}), pixels)
    assert set(four["summary"]["parity"]) == {"pytorch_vs_saved_model", "pytorch_vs_tflite_int8",
                                              "pytorch_vs_tflite_float32"}
    assert four["summary"]["methods"]["tflite_float32"] == "cam"
    # the float CAM is the PyTorch Grad-CAM up to float error; the int8 one drifts by quantization
    assert four["summary"]["parity"]["pytorch_vs_tflite_float32"]["pearson"]["worst"] >= 0.999
    for old, new in zip(three["images"], four["images"]):  # adding a runtime changes nothing else
        assert new["parity"]["pytorch_vs_tflite_int8"] == old["parity"]["pytorch_vs_tflite_int8"]
        assert new["runtimes"]["tflite_int8"]["map"] == old["runtimes"]["tflite_int8"]["map"]
    written = write_outputs(four, pixels, tmp_path / "four")
    with Image.open(written["overlays"][0]) as im:
        assert im.size[0] > 3.8 * im.size[1]  # original + 4 runtime panels (3 runtimes: ~3.2)


def test_any_subset_of_explainers_works_and_the_first_is_the_reference(runtimes, float_cam, test_pixels):
    pixels = test_pixels[:4]
    int8 = runtimes.explainers["tflite_int8"]
    tflite_only = replace(runtimes, explainers={"tflite_float32": float_cam, "tflite_int8": int8})
    report = explain_images(tflite_only, pixels)
    summary = report["summary"]
    assert summary["reference"] == "tflite_float32" and set(summary["parity"]) == {"tflite_float32_vs_tflite_int8"}
    explained = [r["target"]["class_index"] for r in report["images"]]
    np.testing.assert_array_equal(explained, float_cam.attribute(pixels).predicted)
    alone = explain_images(replace(runtimes, explainers={"tflite_int8": int8}), pixels)
    assert alone["summary"]["parity"] == {} and alone["summary"]["pointing_game"]["images_with_boxes"] == 0
    assert np.asarray(alone["images"][0]["runtimes"]["tflite_int8"]["map"]).ndim == 2
