import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, network_blocked
from data.preprocessing import PreprocessSpec
from export.artifacts import OutputExistsError
from export.calibration import CalibrationError
from export.edgetpu import check_model
from export.to_tflite import export_checkpoint, main as export_main

EXPECTED_FILES = {"model.onnx", "saved_model", "model_float32.tflite", "model_int8.tflite", "model.pt",
                  "labels.txt", "preprocess.json", "manifest.json", "parity.json", "edgetpu.json"}


def test_export_writes_every_artifact_and_a_manifest(tiny_export):
    out = tiny_export.out
    assert {p.name for p in out.iterdir()} == EXPECTED_FILES
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["files"]) == EXPECTED_FILES - {"manifest.json"}
    assert all(len(f["sha256"]) == 64 and f["bytes"] > 0 for f in manifest["files"].values())
    assert manifest["tools"]["onnx2tf"] == "1.29.24" and manifest["tools"]["tensorflow"] == "2.19.0"
    assert manifest["settings"]["calibration_images"] == 100
    assert not list(out.parent.glob(".*partial*"))


def test_export_makes_no_network_connection(tiny_export):
    assert tiny_export.network_attempts == []


def test_network_guard_catches_onnx2tf_download(tmp_path, monkeypatch):
    """The guard used for the export is real: onnx2tf's sample download is caught when its file is absent."""
    from onnx2tf.utils.common_functions import download_test_image_data

    monkeypatch.chdir(tmp_path)
    with network_blocked() as attempts, pytest.raises(Exception):
        download_test_image_data()
    assert attempts


def test_conversions_agree_numerically(tiny_export):
    checks = tiny_export.manifest["checks"]
    assert checks["onnx_vs_pytorch_max_abs_logit_diff"] < 1e-4
    assert checks["saved_model_vs_onnx_max_abs_logit_diff"] < 1e-4
    per_image = tiny_export.parity["per_image"]
    assert len(per_image["labels"]) == tiny_export.parity["images"]
    assert per_image["paths"] == []  # synthetic images live in memory; a folder source lists one path per image
    for name, predicted in per_image["predicted"].items():  # per-image classes give the summary's figures
        assert np.mean(np.array(predicted) == np.array(per_image["labels"])) == pytest.approx(
            tiny_export.parity["artifacts"][name]["accuracy"], abs=1e-6)
    rows = tiny_export.parity["artifacts"]
    for name in ("onnx", "saved_model", "tflite_float32"):
        assert rows[name]["agreement_with_pytorch"] == 1.0, name
        assert rows[name]["logit_cosine_min"] > 0.9999, name


def test_int8_model_tracks_pytorch(tiny_export):
    int8 = tiny_export.parity["artifacts"]["tflite_int8"]
    assert int8["agreement_with_pytorch"] >= 0.95
    assert abs(tiny_export.parity["int8_accuracy_drop_pp"]) <= 5.0
    assert int8["bytes"] < tiny_export.parity["artifacts"]["tflite_float32"]["bytes"] / 2


def test_int8_input_takes_raw_bytes(tiny_export):
    io = tiny_export.manifest["int8_io"]["input"]
    assert io["dtype"] == "int8" and io["zero_point"] == -128
    assert io["scale"] == pytest.approx(1 / 255, rel=1e-6)


def test_int8_model_maps_fully_to_the_edge_tpu(tiny_export):
    report = check_model(tiny_export.out / "model_int8.tflite", compiler=None)
    assert report.compatible
    saved = json.loads((tiny_export.out / "edgetpu.json").read_text())
    assert saved["compatible"] is True


def test_existing_output_is_refused_without_force(tiny_checkpoint, tiny_export, capsys):
    with pytest.raises(OutputExistsError, match="--force"):
        export_checkpoint(tiny_checkpoint, tiny_export.out)
    assert export_main(["--ckpt", str(tiny_checkpoint), "--out", str(tiny_export.out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_too_few_calibration_images_are_refused(tiny_checkpoint, tmp_path, capsys):
    with pytest.raises(CalibrationError, match="at least 10"):
        export_checkpoint(tiny_checkpoint, tmp_path / "out", calib_samples=5)
    assert not (tmp_path / "out").exists()


def test_small_calibration_folder_warns_and_reports_what_it_used(tiny_checkpoint, tmp_path, caplog):
    spec = PreprocessSpec(input_size=128)
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("val", 2), ("test", 2)):
        for label in ("helmet", "no_helmet"):
            d = tmp_path / "data" / split / label
            d.mkdir(parents=True)
            for i in range(n // 2):
                Image.fromarray(rng.integers(0, 255, (spec.input_size, spec.input_size, 3), np.uint8)).save(d / f"{i}.png")
    from export.calibration import calibration_pixels

    with caplog.at_level("WARNING", logger="export"):
        pixels = calibration_pixels(str(tmp_path / "data"), spec, n=300)
    assert len(pixels) == 12
    assert "only 12" in caplog.text and "fewer than 100" in caplog.text


def test_failure_mid_export_leaves_nothing_behind(tiny_checkpoint, tmp_path, monkeypatch):
    import onnx2tf

    def broken_convert(**kwargs):
        raise RuntimeError("simulated converter crash")

    monkeypatch.setattr(onnx2tf, "convert", broken_convert)
    out = tmp_path / "artifacts"
    with pytest.raises(RuntimeError, match="simulated"):
        export_checkpoint(tiny_checkpoint, out, calib_samples=20)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content,match", [(None, "not found"), (b"garbage", "cannot read")])
def test_bad_checkpoint_exits_with_a_clear_message(tmp_path, content, match):
    ckpt = tmp_path / "model.ckpt"
    if content is not None:
        ckpt.write_bytes(content)
    out = subprocess.run([sys.executable, "export/to_tflite.py", "--ckpt", str(ckpt), "--out", str(tmp_path / "o")],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert match in out.stderr and "Traceback" not in out.stderr


def test_parity_cli_on_an_export(tiny_export, tmp_path):
    report_path = tmp_path / "parity.json"
    out = subprocess.run([sys.executable, "-m", "export.parity", "--artifacts", str(tiny_export.out),
                          "--limit", "16", "--out", str(report_path)], cwd=REPO, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(report_path.read_text())
    assert report["images"] == 16
    assert set(report["artifacts"]) == {"pytorch", "onnx", "saved_model", "tflite_float32", "tflite_int8"}
    assert "tflite_int8" in out.stdout


def test_parity_refuses_an_incomplete_directory(tiny_export, tmp_path):
    from export.parity import main as parity_main

    (tmp_path / "model.pt").write_bytes((tiny_export.out / "model.pt").read_bytes())
    PreprocessSpec(input_size=128).save(tmp_path)
    assert parity_main(["--artifacts", str(tmp_path), "--limit", "4"]) == 2


def test_predict_reads_labels_from_beside_the_model(tiny_export, tmp_path):
    from export.predict import predict

    images = []
    for i in range(2):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(np.full((50, 70, 3), 40 * i, np.uint8)).save(path)
        images.append(path)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"nope")
    results = predict(tiny_export.out / "model_int8.tflite", images + [broken])
    assert [r.label in ("helmet", "no_helmet") for r in results[:2]] == [True, True]
    assert sum(results[0].probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert results[2].label is None and "cannot decode" in results[2].error


def test_predict_cli_json_and_missing_edgetpu_runtime(tiny_export, tmp_path):
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((128, 128, 3), np.uint8)).save(image)
    model = str(tiny_export.out / "model_int8.tflite")
    out = subprocess.run([sys.executable, "-m", "export.predict", "--model", model, str(image), "--json"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1])["label"] in ("helmet", "no_helmet")
    tpu = subprocess.run([sys.executable, "-m", "export.predict", "--model", model, str(image), "--edgetpu"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert tpu.returncode == 2 and "Edge TPU delegate" in tpu.stderr and "Traceback" not in tpu.stderr
