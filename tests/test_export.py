"""The export of the tiny trained run: every format, then one checking pass (conversions, parity with three
int8 kernel sets, TFLM, Edge TPU, manifest), and the CLIs around it."""

import json

import numpy as np
import pytest
from PIL import Image

from conftest import network_blocked
from data.errors import EXIT_BAD_INPUT
from data.preprocessing import PreprocessSpec
from export.artifacts import OutputExistsError
from export.calibration import CalibrationError
from export.edgetpu import check_model
from export.layout import INT8_ROWS, PARITY_ROWS, ExportDir
from export.mcu import round_up_16
from export.to_tflite import export_checkpoint, main as export_main


@pytest.mark.slow
def test_export_writes_every_format_and_a_manifest(tiny_export):
    out = tiny_export.out
    assert {p.name for p in out.iterdir()} == ExportDir.file_names(c_array=True)
    manifest = json.loads(ExportDir(out).manifest.read_text())
    assert set(manifest["files"]) == ExportDir.file_names() - {ExportDir(out).manifest.name}
    assert all(len(f["sha256"]) == 64 and f["bytes"] > 0 for f in manifest["files"].values())
    assert manifest["tools"]["onnx2tf"] == "1.29.24" and manifest["tools"]["tensorflow"] == "2.19.0"
    assert manifest["tools"]["tflite-micro"] == tiny_export.parity["tflm"]["version"]
    assert manifest["settings"]["calibration_images"] == 100
    assert manifest["settings"]["min_int8_agreement"] == 0.95
    assert {"PyTorch", "ONNX", "SavedModel", "TFLite float32", "TFLite int8", "MCU C array"} <= set(
        manifest["stage_seconds"])
    assert not list(out.parent.glob(".*"))  # no staging, trash or onnx2tf working directory left


@pytest.mark.slow
def test_export_makes_no_network_connection(tiny_export):
    assert tiny_export.network_attempts == []


def test_network_guard_catches_onnx2tf_download(tmp_path, monkeypatch):
    """The guard used for the export is real: onnx2tf's sample download is caught when its file is absent."""
    from onnx2tf.utils.common_functions import download_test_image_data

    monkeypatch.chdir(tmp_path)
    with network_blocked() as attempts, pytest.raises(Exception):
        download_test_image_data()
    assert attempts


@pytest.mark.slow
def test_conversions_agree_numerically(tiny_export):
    checks = tiny_export.manifest["checks"]
    assert checks["onnx_vs_pytorch_max_abs_logit_diff"] < 1e-4
    assert checks["saved_model_vs_onnx_max_abs_logit_diff"] < 1e-4
    per_image = tiny_export.parity["per_image"]
    assert len(per_image["labels"]) == tiny_export.parity["images"]
    assert per_image["paths"] == []  # synthetic images live in memory; a folder source lists one path per image
    assert "datasets" not in per_image and "per_dataset" not in tiny_export.parity  # no manifest names them
    for name, predicted in per_image["predicted"].items():  # per-image classes give the summary's figures
        assert np.mean(np.array(predicted) == np.array(per_image["labels"])) == pytest.approx(
            tiny_export.parity["artifacts"][name]["accuracy"], abs=1e-6)
    rows = tiny_export.parity["artifacts"]
    for name in ("onnx", "saved_model", "tflite_float32"):
        assert rows[name]["agreement_with_pytorch"] == 1.0, name
        assert rows[name]["logit_cosine_min"] > 0.9999, name


@pytest.mark.slow
def test_every_int8_row_says_which_kernels_produced_it(tiny_export):
    rows = tiny_export.parity["artifacts"]
    assert list(rows) == list(PARITY_ROWS)
    assert "XNNPACK" in rows["tflite_int8"]["kernels"] and "BUILTIN_REF" in rows["tflite_int8_ref"]["kernels"]
    assert "tflite-micro" in rows["tflm"]["kernels"]
    for row in INT8_ROWS:
        assert rows[row]["bytes"] == ExportDir(tiny_export.out).int8.stat().st_size
        assert rows[row]["accuracy_drop_pp"] == pytest.approx(100 * (rows["pytorch"]["accuracy"] - rows[row]["accuracy"]))
    assert tiny_export.parity["int8_accuracy_drop_row"] == "tflite_int8"
    assert tiny_export.parity["int8_accuracy_drop_pp"] == rows["tflite_int8"]["accuracy_drop_pp"]
    predicted = tiny_export.parity["per_image"]["predicted"]
    assert predicted["tflm"] == predicted["tflite_int8_ref"]  # bit-exact outputs, so the same classes
    assert rows["tflm"]["mean_abs_prob_diff"] == rows["tflite_int8_ref"]["mean_abs_prob_diff"]


@pytest.mark.slow
def test_tflm_block_in_parity_and_manifest(tiny_export):
    tflm = tiny_export.parity["tflm"]
    assert tiny_export.manifest["tflm"] == tflm
    reference = tflm["vs_litert_reference"]
    assert reference == {"litert_row": "tflite_int8_ref", "images": tiny_export.parity["images"],
                         "exact_match_rate": 1.0, "max_abs_diff_steps": 0, "top1_agreement": 1.0,
                         "target": "bit-exact", "bit_exact": True}
    default = tflm["vs_litert_default"]
    assert default["litert_row"] == "tflite_int8" and default["target"] is None
    assert 0.0 <= default["exact_match_rate"] <= 1.0 and 0 <= default["max_abs_diff_steps"] <= 255
    assert default["top1_agreement"] >= 0.95
    assert tflm["unsupported_ops"] == [] and {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"} <= set(tflm["ops"])
    assert tflm["tensor_arena_bytes"] > 0
    assert "64-bit host" in tflm["tensor_arena_note"] and "CMSIS-NN" in tflm["tensor_arena_note"]
    header = ExportDir(tiny_export.out).c_header.read_text()
    assert f"kModelInt8TensorArenaSize = {round_up_16(tflm['tensor_arena_bytes'])};" in header


@pytest.mark.slow
def test_checks_all_pass_and_are_recorded(tiny_export):
    assert tiny_export.failed_checks == [] and tiny_export.passed
    checks = tiny_export.manifest["checks"]
    assert checks["passed"] is True and checks["failed"] == []
    assert checks["edgetpu_compatible"] is True and checks["tflm_bit_exact_with_litert_reference"] is True
    assert checks["tflm_unsupported_ops"] == []
    assert set(checks["int8_agreement_with_pytorch"]) == set(INT8_ROWS)
    assert min(checks["int8_agreement_with_pytorch"].values()) >= 0.95


@pytest.mark.slow
def test_int8_model_tracks_pytorch(tiny_export):
    int8 = tiny_export.parity["artifacts"]["tflite_int8"]
    assert int8["agreement_with_pytorch"] >= 0.95
    assert abs(tiny_export.parity["int8_accuracy_drop_pp"]) <= 5.0
    assert int8["bytes"] < tiny_export.parity["artifacts"]["tflite_float32"]["bytes"] / 2


@pytest.mark.slow
def test_int8_input_takes_raw_bytes(tiny_export):
    io = tiny_export.manifest["int8_io"]["input"]
    assert io["dtype"] == "int8" and io["zero_point"] == -128
    assert io["scale"] == pytest.approx(1 / 255, rel=1e-6)


@pytest.mark.slow
def test_int8_model_maps_fully_to_the_edge_tpu(tiny_export):
    export = ExportDir(tiny_export.out)
    report = check_model(export.int8, compiler=None)
    assert report.compatible
    saved = json.loads(export.edgetpu.read_text())
    assert saved["compatible"] is True
    assert tiny_export.manifest["edgetpu"]["tpu_ops"] == tiny_export.manifest["edgetpu"]["num_ops"] == report.num_ops


@pytest.mark.slow
def test_existing_output_is_refused_without_force(tiny_checkpoint, tiny_export, capsys):
    with pytest.raises(OutputExistsError, match="--force"):
        export_checkpoint(tiny_checkpoint, tiny_export.out)
    assert export_main(["--ckpt", str(tiny_checkpoint), "--out", str(tiny_export.out)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "already exists" in err and len([line for line in err.splitlines() if line.startswith("error:")]) == 1


@pytest.mark.slow
def test_too_few_calibration_images_are_refused(tiny_checkpoint, tmp_path):
    with pytest.raises(CalibrationError, match="at least 10") as error:
        export_checkpoint(tiny_checkpoint, tmp_path / "out", calib_samples=5)
    assert error.value.exit_code == EXIT_BAD_INPUT
    assert not (tmp_path / "out").exists()


def test_small_calibration_folder_warns_and_reports_what_it_used(tmp_path, caplog):
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


@pytest.mark.slow
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
def test_bad_checkpoint_exits_with_a_clear_message(tmp_path, capsys, content, match):
    ckpt = tmp_path / "model.ckpt"
    if content is not None:
        ckpt.write_bytes(content)
    assert export_main(["--ckpt", str(ckpt), "--out", str(tmp_path / "o")]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [err.strip()]
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_parity_cli_on_an_export(tiny_export, tmp_path, capsys):
    from export.parity import main as parity_main

    report_path = tmp_path / "parity.json"
    # 16 images of the barely trained tiny model: one flip near its decision boundary costs 6 pp of agreement
    code = parity_main(["--artifacts", str(tiny_export.out), "--limit", "16", "--out", str(report_path),
                        "--min-int8-agreement", "0.8"])
    out = capsys.readouterr()
    assert code == 0, out.err[-2000:]
    report = json.loads(report_path.read_text())
    assert report["images"] == 16
    assert list(report["artifacts"]) == list(PARITY_ROWS)
    assert report["tflm"]["vs_litert_reference"]["bit_exact"] is True
    assert report["tflm"]["tensor_arena_bytes"] == tiny_export.parity["tflm"]["tensor_arena_bytes"]
    assert "tflite_int8_ref" in out.out and "target bit-exact: met" in out.out


@pytest.mark.slow
def test_parity_refuses_an_incomplete_directory(tiny_export, tmp_path, capsys):
    from export.parity import main as parity_main

    export = ExportDir(tmp_path)
    export.pytorch.write_bytes(ExportDir(tiny_export.out).pytorch.read_bytes())
    PreprocessSpec(input_size=128).save(tmp_path)
    assert parity_main(["--artifacts", str(tmp_path), "--limit", "4"]) == EXIT_BAD_INPUT
    assert "lacks" in capsys.readouterr().err


@pytest.mark.slow
def test_predict_reads_labels_from_beside_the_model(tiny_export, tmp_path):
    from export.predict import predict

    images = []
    for i in range(2):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(np.full((50, 70, 3), 40 * i, np.uint8)).save(path)
        images.append(path)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"nope")
    results = predict(ExportDir(tiny_export.out).int8, images + [broken])
    assert [r.label in ("helmet", "no_helmet") for r in results[:2]] == [True, True]
    assert sum(results[0].probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert results[2].label is None and "cannot decode" in results[2].error


@pytest.mark.slow
def test_predict_cli_json_and_missing_edgetpu_runtime(tiny_export, tmp_path, capsys):
    from export.predict import main as predict_main

    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((128, 128, 3), np.uint8)).save(image)
    model = str(ExportDir(tiny_export.out).int8)
    code = predict_main(["--model", model, str(image), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err[-2000:]
    assert json.loads(out.out.strip().splitlines()[-1])["label"] in ("helmet", "no_helmet")
    assert predict_main(["--model", model, str(image), "--edgetpu"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "Edge TPU delegate" in err and "Traceback" not in err
