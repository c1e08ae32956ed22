"""The chain on a small subset of real photos through ``pipeline.run_pipeline``: prepare -> short training of
the real recipe -> export (every format, parity, TFLM, Edge TPU) -> Grad-CAM on the test crops.

Skipped (with the reason) when ../shared/data/helmet-kaggle-voc is not beside the repository.
"""

import pytest

from conftest import REAL_DATASET, REAL_SUBSET, REPO, real_subset

pytestmark = pytest.mark.skipif(not (REAL_DATASET / "annotations").is_dir(),
                                reason=f"real dataset not found at {REAL_DATASET}")


def test_real_subset_through_the_pipeline(tmp_path):
    from data.prepare import prepare_dataset
    from pipeline import Training, run_pipeline

    report = prepare_dataset(REAL_DATASET, tmp_path / "crops", fmt="voc", seed=0)
    assert report.crops > 1000 and report.skipped.get("box outside image") == 13
    manifest = (tmp_path / "crops" / "manifest.csv").read_text().splitlines()
    assert len(manifest) == report.crops + 1

    data = real_subset(tmp_path / "crops", tmp_path / "subset")
    tiny = {"data": {"image_size": 64}, "trainer": {"max_epochs": 2, "enable_model_summary": False},
            "progress_bar": {"refresh_rate": 0}}
    run = run_pipeline(Training(configs=[REPO / "configs" / "real_slim_mobilenet.yaml"], overrides=tiny, data=data),
                       tmp_path / "work", explain=data / "test", latency=False, calib_samples=100)
    assert run.training["test"]["balanced_acc"] >= 0.5
    assert run.training["class_weights"] is not None  # "balanced": from the mix actually trained on
    result = run.export
    assert result.manifest["settings"]["calibration_images"] == 100  # real training crops, not synthetic
    assert result.edgetpu["compatible"]
    assert result.parity["images"] == REAL_SUBSET["test"]
    assert result.parity["artifacts"]["tflite_int8"]["agreement_with_pytorch"] >= 0.9
    assert result.parity["artifacts"]["onnx"]["agreement_with_pytorch"] == 1.0
    assert set(result.parity["per_dataset"]) == {"helmet-kaggle-voc"}  # the manifest names each crop's dataset
    assert run.explanation["images"] == REAL_SUBSET["test"]
    assert run.explanation["pointing_game"]["images_with_boxes"] == REAL_SUBSET["test"]  # head boxes from the manifest
