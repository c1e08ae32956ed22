"""Grad-CAM parity (explain/): PyTorch Captum vs int8 TFLite CAM vs SavedModel GradientTape, metrics, CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import TINY_SIZE
from data.preprocessing import PreprocessSpec
from data.synthetic import generate
from explain import metrics
from explain.gradcam import explain_images, explain_synthetic, load_runtimes, main
from data.manifest import crop_info
from explain.tflite_cam import TFLiteCam, _dequantize_const, cam_from_activations, find_gap_linear_head
from explain.torch_gradcam import analytic_cam, torch_gradcam, upsample

N_SYNTHETIC = 24
pytestmark = pytest.mark.filterwarnings("ignore:Statistics for quantized inputs:UserWarning")


# --- shared, built once -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runtimes(tiny_export):
    return load_runtimes(tiny_export.out)


@pytest.fixture(scope="module")
def synthetic_report(runtimes):
    return explain_synthetic(runtimes, n=N_SYNTHETIC)


@pytest.fixture(scope="module")
def grid(runtimes):
    """Feature-map side from the PyTorch model itself (6 for the slim model at 96 px)."""
    size = runtimes.spec.input_size
    with torch.no_grad():
        return runtimes.loaded.model.forward_features(torch.zeros(1, 3, size, size)).shape[-1]


@pytest.fixture(scope="module")
def test_pixels(runtimes):
    images, _, _ = generate(8, seed=0, size=runtimes.spec.input_size, start=900, return_boxes=True)
    return images


# --- the numbers --------------------------------------------------------------------------------
def test_int8_cam_matches_pytorch_gradcam(synthetic_report, grid):
    s = synthetic_report["summary"]
    assert s["images"] == N_SYNTHETIC and s["methods"]["tflite_int8"] == "cam"
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
    assert s["pointing_game"]["images_with_boxes"] == N_SYNTHETIC
    for k in ("pytorch", "tflite_int8", "saved_model"):
        assert 0.0 <= s["pointing_game"][k] <= 1.0
        assert 0.0 <= s["energy_in_box"][k] <= 1.0
    boxes = [r["box"] for r in synthetic_report["images"]]
    centre = s["input_size"] // 2 + 0.5  # the centre pixel's centre, as the pointing game tests it
    assert s["pointing_game"]["content_free_baseline"] == pytest.approx(
        np.mean([x0 <= centre <= x1 and y0 <= centre <= y1 for x0, y0, x1, y1 in boxes]))
    # a trained model's maps sit on the head more than a uniform map does
    assert s["energy_in_box"]["tflite_int8"] > s["energy_in_box"]["content_free_baseline"] > 0.0, s["energy_in_box"]
    assert 0.0 <= s["predicted_same_class_share"]["tflite_int8"] <= 1.0
    first = synthetic_report["images"][0]
    assert first["target"]["class"] == first["runtimes"]["pytorch"]["predicted"]  # target=predicted: PyTorch's class
    json.dumps(synthetic_report)


# --- the formulas -------------------------------------------------------------------------------
def test_captum_gradcam_equals_analytic_cam(runtimes, test_pixels, grid):
    """For GAP + linear, Grad-CAM == ReLU(W_c . A / (h*w)): proves the gradient-free int8 recipe."""
    model = runtimes.loaded.model
    x = torch.from_numpy(runtimes.spec.to_float_nchw(test_pixels))
    for target in (0, 1, np.arange(len(x)) % 2):
        captum_map = torch_gradcam(model, x, target)
        analytic = analytic_cam(model, x, target)
        assert captum_map.shape == (len(x), grid, grid)
        np.testing.assert_allclose(captum_map, analytic, atol=1e-5, rtol=0)
    assert analytic.max() > 0  # not a vacuous comparison of zeros


def test_tflite_cam_formula_on_float_model(runtimes, tiny_export, test_pixels):
    """The TFLite CAM code on the float TFLite model equals the PyTorch CAM, and its cells sum to the logit."""
    model = runtimes.loaded.model
    float_cam = TFLiteCam(tiny_export.out / "model_float32.tflite", runtimes.spec)
    assert float_cam.method == "cam" and float_cam.head.activation_scale == 0.0
    x = torch.from_numpy(runtimes.spec.to_float_nchw(test_pixels))
    for target in (0, 1):
        maps, logits = float_cam.explain(test_pixels, target)
        reference = analytic_cam(model, x, target)
        np.testing.assert_allclose(maps, reference, atol=1e-4 * max(1.0, reference.max()), rtol=0)
    for image in test_pixels[:4]:  # CAM identity: sum of pre-ReLU cells + bias = logit
        a, lg = float_cam.activations(image)
        for c in (0, 1):
            total = cam_from_activations(a, float_cam.head.weights[c], relu=False).sum() + float_cam.head.bias[c]
            assert abs(total - lg[c]) < 1e-4 * max(1.0, abs(lg[c]))


def test_int8_cam_is_close_to_float_cam_and_reconstructs_logits(runtimes, tiny_export, test_pixels):
    float_cam = TFLiteCam(tiny_export.out / "model_float32.tflite", runtimes.spec)
    int8 = runtimes.int8
    assert int8.head.activation_scale > 0
    assert int8.head.weights.shape == (2, runtimes.loaded.model.classifier.in_features)
    maps8, logits8 = int8.explain(test_pixels, 0)
    mapsf, _ = float_cam.explain(test_pixels, 0)
    assert np.median([metrics.pearson(a, b) for a, b in zip(maps8, mapsf)]) >= 0.9
    out_scale, out_zero = int8.runner.output["quantization"]
    out_min, out_max = (-128 - out_zero) * out_scale, (127 - out_zero) * out_scale  # int8 output saturates
    assert int8.head.pooled_scale > 0
    for image, lg in zip(test_pixels[:4], logits8):
        a, _ = int8.activations(image)
        for c in (0, 1):
            total = cam_from_activations(a, int8.head.weights[c], relu=False).sum() + int8.head.bias[c]
            # the int8 FC reads the MEAN rounded to its own step (error <= step / 2 per channel) and
            # rounds its result to the output step: sum of cells + bias = logit within that bound
            bound = 0.5 * int8.head.pooled_scale * np.abs(int8.head.weights[c]).sum() + 2 * out_scale
            assert abs(np.clip(total, out_min, out_max) - lg[c]) <= bound, (total, lg[c], bound)


def test_fixed_target_explains_that_class_everywhere(runtimes, test_pixels):
    report = explain_images(runtimes, test_pixels[:3], target="no_helmet", saved_model=False)
    assert {r["target"]["class"] for r in report["images"]} == {"no_helmet"}
    assert set(report["summary"]["methods"]) == {"pytorch", "tflite_int8"}
    x = torch.from_numpy(runtimes.spec.to_float_nchw(test_pixels[:3]))
    np.testing.assert_allclose(np.array([r["runtimes"]["pytorch"]["map"] for r in report["images"]]),
                               analytic_cam(runtimes.loaded.model, x, 1), atol=1e-5)
    with pytest.raises(ValueError, match="target"):
        explain_images(runtimes, test_pixels[:1], target="hat")


def test_weight_dequantization_per_channel_and_per_tensor():
    q = np.array([[10, -20, 0], [1, 2, 3]], np.int8)
    per_channel = SimpleNamespace(name="w", dtype="int8", values=q, scale=[0.5, 0.25], zero_point=[0, 0],
                                  quantized_dimension=0)
    np.testing.assert_allclose(_dequantize_const(per_channel), [[5, -10, 0], [0.25, 0.5, 0.75]])
    per_tensor = SimpleNamespace(name="w", dtype="int8", values=q, scale=[0.1], zero_point=[2], quantized_dimension=0)
    np.testing.assert_allclose(_dequantize_const(per_tensor), (q.astype(np.float32) - 2) * 0.1, rtol=1e-6)


def test_head_box_from_a_prepared_manifest(tmp_path):
    crop = tmp_path / "prepared" / "test" / "helmet" / "img_0.png"
    crop.parent.mkdir(parents=True)
    Image.new("RGB", (64, 32)).save(crop)
    columns = "crop,crop_x0,crop_y0,crop_x1,crop_y1,head_x0,head_y0,head_x1,head_y1"
    (tmp_path / "prepared" / "manifest.csv").write_text(
        f"{columns}\ntest/helmet/img_0.png,100,50,164,82,8,4,40,20\n")
    assert crop_info(crop).head_box(128) == pytest.approx((16, 16, 80, 80))  # x * 128/64, y * 128/32
    assert crop_info(tmp_path / "elsewhere.png") is None


# --- metrics on hand-made maps --------------------------------------------------------------------
def test_metrics_identical_maps():
    m = np.random.default_rng(0).random((8, 8))
    assert metrics.pearson(m, m) == pytest.approx(1.0)
    assert metrics.spearman(m, m) == pytest.approx(1.0)
    assert metrics.top_iou(m, m) == 1.0
    assert metrics.peak_distance(m, m) == 0.0
    assert metrics.pearson(m, 3 * m + 1) == pytest.approx(1.0)  # scale-free
    assert metrics.pearson(m, -m) == pytest.approx(-1.0)


def test_metrics_shifted_peak_and_top_cells():
    a, b = np.zeros((8, 8)), np.zeros((8, 8))
    a[1, 2], b[4, 6] = 1.0, 1.0
    assert metrics.peak_distance(a, b) == pytest.approx(5.0)  # (3, 4) cells apart
    a = np.arange(16.0).reshape(4, 4)  # top 20 % of 16 cells = 3 cells: 15, 14, 13
    b = a.copy()
    b[3, 3], b[0, 0] = 0.0, 100.0  # swap one top cell out, one in
    assert metrics.top_cells(a) == {13, 14, 15}
    assert metrics.top_iou(a, b) == pytest.approx(2 / 4)
    assert metrics.spearman(np.array([1.0, 2, 3, 4]), np.array([10.0, 20, 30, 1000])) == pytest.approx(1.0)
    assert list(metrics.rankdata(np.array([3.0, 1, 3, 2]))) == [3.5, 1, 3.5, 2]


def test_metrics_degenerate_maps_and_pointing_game():
    zeros, m = np.zeros((4, 4)), np.eye(4)
    assert metrics.pearson(zeros, zeros) == 1.0 and metrics.pearson(zeros, m) == 0.0
    heat = upsample(np.pad(np.ones((1, 1)), ((2, 5), (6, 1))), 64)  # peak cell (2, 6) of 8x8 -> pixels ~(52, 20)
    assert metrics.pointing_hit(heat, (40, 10, 64, 30)) is True
    assert metrics.pointing_hit(heat, (0, 0, 30, 30)) is False
    assert metrics.pointing_hit(heat, None) is None
    assert metrics.pointing_hit(np.zeros((64, 64)), (0, 0, 64, 64)) is False
    with pytest.raises(ValueError, match="shape"):
        metrics.pearson(np.zeros((4, 4)), np.zeros((8, 8)))


# --- the CLI ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_run(tiny_export, tmp_path_factory):
    """3 good images, one of another size (300x200 JPEG), one unreadable file and one missing path."""
    root = tmp_path_factory.mktemp("explain_cli")
    images, _ = generate(4, seed=0, size=TINY_SIZE, start=1000)
    folder = root / "images"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(images[i]).save(folder / f"img{i}.png")
    Image.fromarray(images[3]).resize((300, 200)).save(folder / "other_size.jpg")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    out = root / "out"
    rc = main(["--artifacts", str(tiny_export.out), "--images", str(folder), str(root / "missing.png"),
               "--out", str(out)])
    return rc, out, folder


def test_cli_writes_overlays_contact_sheet_and_json(cli_run, grid):
    rc, out, _ = cli_run
    assert rc == 0
    report = json.loads((out / "explain_parity.json").read_text())
    assert report["summary"]["images"] == 4
    overlays = sorted((out / "overlays").glob("*.png"))
    assert len(overlays) == 4
    with Image.open(overlays[0]) as im:
        assert im.size[0] > 3 * im.size[1]  # 4 panels side by side
    with Image.open(out / "contact_sheet.png") as im:
        assert im.size[0] > 400
    entry = report["images"][0]
    assert set(entry["runtimes"]) == {"pytorch", "saved_model", "tflite_int8"}
    for r in entry["runtimes"].values():
        assert np.asarray(r["map"]).shape == (grid, grid) and 0.5 <= r["probability"] <= 1.0
    assert set(entry["parity"]) == {"pytorch_vs_tflite_int8", "pytorch_vs_saved_model"}


def test_cli_skips_unreadable_images_and_counts_them(cli_run):
    rc, out, _ = cli_run
    assert rc == 0
    report = json.loads((out / "explain_parity.json").read_text())
    assert report["summary"]["skipped_images"] == 2
    reasons = " ".join(s["reason"] for s in report["skipped"])
    assert "broken.png" in reasons and "cannot decode" in reasons and "image not found" in reasons
    assert not any("broken" in r["name"] for r in report["images"])


def test_cli_nothing_readable_exits_nonzero(tiny_export, tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_text("no image here")
    rc = main(["--artifacts", str(tiny_export.out), "--images", str(bad), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 1 and "cannot decode" in err and "none of the 1" in err and "Traceback" not in err


def test_cli_resizes_other_sizes_through_shared_preprocessing(cli_run, runtimes):
    _, out, folder = cli_run
    report = json.loads((out / "explain_parity.json").read_text())
    entry = next(r for r in report["images"] if r["name"].endswith("other_size.jpg"))
    pixels = runtimes.spec.load_uint8(folder / "other_size.jpg")
    assert pixels.shape == (TINY_SIZE, TINY_SIZE, 3)
    with torch.no_grad():
        logits = runtimes.loaded.model(torch.from_numpy(runtimes.spec.to_float_nchw(pixels[None])))[0].numpy()
    np.testing.assert_allclose(entry["runtimes"]["pytorch"]["logits"], logits, atol=1e-5)


def test_cli_missing_int8_model_is_a_clear_error(tiny_export, tmp_path, capsys):
    partial = tmp_path / "artifacts"
    partial.mkdir()
    for name in ("model.pt", "preprocess.json", "labels.txt"):
        shutil.copy(tiny_export.out / name, partial / name)
    rc = main(["--artifacts", str(partial), "--images", str(tmp_path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "model_int8.tflite" in err and "Traceback" not in err


# --- a head that is not GAP + linear: occlusion fallback -------------------------------------------
def _flatten_dense_int8(path: Path, size: int) -> Path:
    """A tiny int8 model without MEAN -> FULLY_CONNECTED: a 16x16/16 conv summing each cell, then
    flatten -> dense. Class 0's logit is the brightness of the top-left quadrant, class 1's the rest."""
    import tensorflow as tf

    grid = size // 16
    inp = tf.keras.Input((size, size, 3), batch_size=1)
    x = tf.keras.layers.Conv2D(1, 16, strides=16, use_bias=False, name="cells")(inp)
    x = tf.keras.layers.Flatten()(x)
    out = tf.keras.layers.Dense(2, name="logits")(x)
    model = tf.keras.Model(inp, out)
    model.get_layer("cells").set_weights([np.full((16, 16, 3, 1), 1.0 / (16 * 16 * 3), np.float32)])
    quadrant = np.zeros((grid, grid), np.float32)
    quadrant[: grid // 2, : grid // 2] = 1.0
    w = np.stack([quadrant.ravel(), 1.0 - quadrant.ravel()], 1) / (grid * grid / 4)
    model.get_layer("logits").set_weights([w, np.zeros(2, np.float32)])
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    rng = np.random.default_rng(0)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([rng.random((1, size, size, 3), np.float32)] for _ in range(20))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    path.write_bytes(converter.convert())
    return path


@pytest.fixture(scope="module")
def non_gap_model(tmp_path_factory):
    return _flatten_dense_int8(tmp_path_factory.mktemp("nongap") / "model_int8.tflite", TINY_SIZE)


def test_occlusion_fallback_for_a_non_gap_head(non_gap_model):
    size = TINY_SIZE
    spec = PreprocessSpec(input_size=size)
    assert find_gap_linear_head(non_gap_model) is None
    cam = TFLiteCam(non_gap_model, spec)
    assert cam.method == "occlusion" and "occlusion" in cam.note and cam.cell == 16
    cells, half = size // 16, size // 32
    image = np.zeros((1, size, size, 3), np.uint8)
    image[0, : size // 2, : size // 2] = 255  # bright top-left quadrant: the evidence for class 0
    maps, logits = cam.explain(image, 0)
    assert maps.shape == (1, cells, cells) and logits[0, 0] > logits[0, 1]
    inside = maps[0, :half, :half]
    outside = np.concatenate([maps[0, half:].ravel(), maps[0, :half, half:].ravel()])
    assert inside.min() > 0 and outside.max() == 0


def test_cli_says_when_it_falls_back_to_occlusion(tiny_export, non_gap_model, tmp_path, capsys):
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    for name in ("model.pt", "preprocess.json", "labels.txt"):
        shutil.copy(tiny_export.out / name, artifacts / name)
    shutil.copy(non_gap_model, artifacts / "model_int8.tflite")
    images, _ = generate(2, seed=0, size=TINY_SIZE, start=1100)
    for i, im in enumerate(images):
        Image.fromarray(im).save(tmp_path / f"x{i}.png")
    rc = main(["--artifacts", str(artifacts), "--images", str(tmp_path / "x0.png"), str(tmp_path / "x1.png"),
               "--out", str(tmp_path / "o")])
    stdout = capsys.readouterr().out
    assert rc == 0 and "occlusion sensitivity, not CAM" in stdout and "no GAP + linear head" in stdout
    summary = json.loads((tmp_path / "o" / "explain_parity.json").read_text())["summary"]
    assert summary["methods"]["tflite_int8"] == "occlusion" and "occlusion" in summary["int8_method_note"]
    assert "saved_model" not in summary["methods"]  # no saved_model/ in this directory: skipped, not an error


def test_energy_in_box_and_content_free_baselines():
    box = (16, 16, 48, 48)  # the central quarter of a 64 px input
    heat = np.zeros((64, 64))
    heat[20:30, 20:30] = 1.0
    assert metrics.energy_in_box(heat, box) == pytest.approx(1.0)
    heat[0:10, 0:10] = 3.0  # three times the mass outside
    assert metrics.energy_in_box(heat, box) == pytest.approx(0.25)
    assert metrics.energy_in_box(np.full((64, 64), -1.0), box) == 0.0  # nothing positive: points nowhere
    assert metrics.energy_in_box(heat, None) is None
    assert metrics.content_free_baselines(box, 64) == {"pointing_hit": True, "energy_in_box": pytest.approx(0.25)}
    assert metrics.content_free_baselines((0, 0, 20, 20), 64)["pointing_hit"] is False
    # a uniform map scores exactly the baseline
    assert metrics.energy_in_box(np.ones((64, 64)), box) == metrics.content_free_baselines(box, 64)["energy_in_box"]
