"""``python -m explain`` on a real tiny export: outputs, skipped and unreadable images, exit codes, the
synthetic split, head boxes from a manifest, and the occlusion fallback for a head that is not GAP + linear."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import TINY_SIZE
from data.images import load_images
from data.preprocessing import PreprocessSpec
from data.synthetic import generate
from explain.cli import main
from explain.export_explainers import load_explainers
from explain.synthetic_split import explain_synthetic
from explain.tflite_cam import TFLiteCam, find_gap_linear_head

pytestmark = pytest.mark.filterwarnings("ignore:Statistics for quantized inputs:UserWarning")
SPEC_FILES = ("model.pt", "preprocess.json", "labels.txt")


@pytest.fixture(scope="module")
def runtimes(tiny_export):
    return load_explainers(tiny_export.out, saved_model=False)


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
    return rc, json.loads((out / "explain_parity.json").read_text()), out, folder


def _artifacts_with(tiny_export, directory: Path, *extra: tuple[Path, str]) -> Path:
    """A copy of the export holding only model.pt and the spec, plus ``extra`` (source, name) files."""
    directory.mkdir()
    for name in SPEC_FILES:
        shutil.copy(tiny_export.out / name, directory / name)
    for source, name in extra:
        shutil.copy(source, directory / name)
    return directory


@pytest.mark.slow
def test_cli_writes_overlays_contact_sheet_and_json(cli_run):
    rc, report, out, _ = cli_run
    assert rc == 0 and report["summary"]["images"] == 4
    overlays = sorted((out / "overlays").glob("*.png"))
    assert len(overlays) == 4 and [r["overlay"] for r in report["images"]] == [
        str(p.relative_to(out)) for p in overlays]
    with Image.open(overlays[0]) as im:
        assert im.size[0] > 3 * im.size[1]  # 4 panels side by side
    with Image.open(out / "contact_sheet.png") as im:
        assert im.size[0] > 400
    entry = report["images"][0]
    assert list(entry["runtimes"]) == ["pytorch", "saved_model", "tflite_int8"]
    for r in entry["runtimes"].values():
        assert np.asarray(r["map"]).shape == (6, 6) and 0.5 <= r["probability"] <= 1.0
    assert set(entry["parity"]) == {"pytorch_vs_tflite_int8", "pytorch_vs_saved_model"}


@pytest.mark.slow
def test_cli_skips_unreadable_images_and_counts_them(cli_run):
    rc, report, _, _ = cli_run
    assert rc == 0 and report["summary"]["skipped_images"] == 2
    reasons = " ".join(s["reason"] for s in report["skipped"])
    assert "broken.png" in reasons and "cannot decode" in reasons and "image not found" in reasons
    assert not any("broken" in r["name"] for r in report["images"])


@pytest.mark.slow
def test_cli_resizes_other_sizes_through_shared_preprocessing(cli_run, runtimes):
    _, report, _, folder = cli_run
    entry = next(r for r in report["images"] if r["name"].endswith("other_size.jpg"))
    pixels = runtimes.spec.load_uint8(folder / "other_size.jpg")
    assert pixels.shape == (TINY_SIZE, TINY_SIZE, 3)
    with torch.no_grad():
        logits = runtimes.model.model(torch.from_numpy(runtimes.spec.to_float_nchw(pixels[None])))[0].numpy()
    np.testing.assert_allclose(entry["runtimes"]["pytorch"]["logits"], logits, atol=1e-5)


@pytest.mark.slow
def test_cli_nothing_readable_exits_1(tiny_export, tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_text("no image here")
    rc = main(["--artifacts", str(tiny_export.out), "--images", str(bad), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 1 and "cannot decode" in err and "error: none of the 1" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_cli_unusable_artifacts_exit_2(tiny_export, tmp_path, capsys):
    partial = _artifacts_with(tiny_export, tmp_path / "partial")  # no model_int8.tflite
    assert main(["--artifacts", str(partial), "--images", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "model_int8.tflite" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["--artifacts", str(tmp_path / "nowhere"), "--synthetic", "2", "--out", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err
    corrupt = _artifacts_with(tiny_export, tmp_path / "corrupt")
    (corrupt / "model_int8.tflite").write_bytes(b"not a flatbuffer")
    assert main(["--artifacts", str(corrupt), "--synthetic", "2", "--out", str(tmp_path / "o")]) == 2
    assert "model_int8.tflite" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_bad_arguments_exit_2(tiny_export, tmp_path, capsys):
    for argv, message in ((["--synthetic", "0"], "--synthetic must be >= 1"),
                          (["--images", "x.png", "--synthetic", "2"], "not allowed with"),
                          (["--images", "x.png", "--synthetic-start", "3"], "--synthetic-start needs --synthetic"),
                          ([], "one of the arguments --images --synthetic is required")):
        with pytest.raises(SystemExit) as exit_info:
            main(["--artifacts", str(tiny_export.out), "--out", str(tmp_path / "o"), *argv])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_cli_synthetic_option_is_the_library_function(tiny_export, runtimes, tmp_path):
    out = tmp_path / "synthetic"
    rc = main(["--artifacts", str(tiny_export.out), "--synthetic", "3", "--synthetic-start", "2000",
               "--no-saved-model", "--out", str(out)])
    assert rc == 0
    report = json.loads((out / "explain_parity.json").read_text())
    assert report["summary"]["synthetic"] == {"seed": runtimes.model.data.get("seed", 0), "start": 2000, "n": 3}
    assert report["summary"]["pointing_game"]["images_with_boxes"] == 3 and report["summary"]["skipped_images"] == 0
    assert [r["name"] for r in report["images"]] == ["synthetic_002000", "synthetic_002001", "synthetic_002002"]
    library, images = explain_synthetic(runtimes, n=3, start=2000)
    assert [r["runtimes"]["tflite_int8"]["map"] for r in report["images"]] == [
        r["runtimes"]["tflite_int8"]["map"] for r in library["images"]]
    assert [r["box"] for r in report["images"]] == [list(b) for b in images.boxes]
    assert len(sorted((out / "overlays").glob("*.png"))) == 3


def test_head_boxes_come_from_a_prepared_manifest(tmp_path):
    crop = tmp_path / "prepared" / "test" / "helmet" / "img_0.png"
    crop.parent.mkdir(parents=True)
    Image.new("RGB", (64, 32)).save(crop)
    Image.new("RGB", (64, 32)).save(tmp_path / "elsewhere.png")
    columns = "crop,crop_x0,crop_y0,crop_x1,crop_y1,head_x0,head_y0,head_x1,head_y1"
    (tmp_path / "prepared" / "manifest.csv").write_text(
        f"{columns}\ntest/helmet/img_0.png,100,50,164,82,8,4,40,20\n")
    images = load_images([crop, tmp_path / "elsewhere.png"], PreprocessSpec(input_size=128))
    assert images.boxes[0] == pytest.approx((16, 16, 80, 80))  # x * 128/64, y * 128/32
    assert images.boxes[1] is None


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


@pytest.mark.slow
def test_occlusion_fallback_for_a_non_gap_head(non_gap_model):
    size = TINY_SIZE
    assert find_gap_linear_head(non_gap_model) is None
    cam = TFLiteCam(non_gap_model, PreprocessSpec(input_size=size))
    assert cam.method == "occlusion" and "occlusion" in cam.note and cam.cell == 16
    cells, half = size // 16, size // 32
    image = np.zeros((1, size, size, 3), np.uint8)
    image[0, : size // 2, : size // 2] = 255  # bright top-left quadrant: the evidence for class 0
    attribution = cam.attribute(image)
    assert attribution.method == "occlusion" and attribution.targets[0] == 0  # its own prediction
    assert attribution.maps.shape == (1, cells, cells) and attribution.logits[0, 0] > attribution.logits[0, 1]
    inside = attribution.maps[0, :half, :half]
    outside = np.concatenate([attribution.maps[0, half:].ravel(), attribution.maps[0, :half, half:].ravel()])
    assert inside.min() > 0 and outside.max() == 0


@pytest.mark.slow
def test_cli_says_when_it_falls_back_to_occlusion(tiny_export, non_gap_model, tmp_path, capsys):
    artifacts = _artifacts_with(tiny_export, tmp_path / "artifacts", (non_gap_model, "model_int8.tflite"))
    images, _ = generate(2, seed=0, size=TINY_SIZE, start=1100)
    for i, im in enumerate(images):
        Image.fromarray(im).save(tmp_path / f"x{i}.png")
    rc = main(["--artifacts", str(artifacts), "--images", str(tmp_path / "x0.png"), str(tmp_path / "x1.png"),
               "--out", str(tmp_path / "o")])
    stdout = capsys.readouterr().out
    assert rc == 0 and "no GAP + linear head" in stdout
    assert "NOTE: the tflite_int8 map is occlusion, the pytorch map gradcam" in stdout
    summary = json.loads((tmp_path / "o" / "explain_parity.json").read_text())["summary"]
    assert summary["methods"]["tflite_int8"] == "occlusion" and "occlusion" in summary["method_notes"]["tflite_int8"]
    assert "saved_model" not in summary["methods"]  # no saved_model/ in this directory: skipped, not an error
