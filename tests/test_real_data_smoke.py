"""The chain on a small subset of real photos: prepare -> short training -> export -> parity.

Skipped (with the reason) when ../shared/data/helmet-kaggle-voc is not beside the repository.
"""

import json
import shutil

import pytest

from conftest import REAL_DATASET, fit_tiny

pytestmark = pytest.mark.skipif(not (REAL_DATASET / "annotations").is_dir(),
                                reason=f"real dataset not found at {REAL_DATASET}")
SUBSET = {"train": 120, "val": 30, "test": 40}


def _subset(prepared, out):
    """The first N crops of each split and class (sorted by name): whole photos stay within a split."""
    for split, n in SUBSET.items():
        for label in ("helmet", "no_helmet"):
            target = out / split / label
            target.mkdir(parents=True)
            for crop in sorted((prepared / split / label).glob("*.png"))[: n // 2]:
                shutil.copy(crop, target / crop.name)
    return out


def test_real_subset_prepare_train_export_parity(tmp_path):
    from data.prepare import prepare_dataset
    from export.to_tflite import export_checkpoint

    report = prepare_dataset(REAL_DATASET, tmp_path / "crops", fmt="voc", seed=0)
    assert report.crops > 1000 and report.skipped.get("box outside image") == 13
    manifest = (tmp_path / "crops" / "manifest.csv").read_text().splitlines()
    assert len(manifest) == report.crops + 1

    data = _subset(tmp_path / "crops", tmp_path / "subset")
    run = fit_tiny(tmp_path / "runs", epochs=2, extra=[f"--data.source={data}", "--data.image_size=64",
                                                       "--data.synthetic_counts=null"])
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["balanced_acc"] >= 0.5
    result = export_checkpoint(metrics["best_checkpoint"], tmp_path / "export", calib_samples=100)
    assert result.manifest["settings"]["calibration_images"] == 100  # real training crops, not synthetic
    assert result.edgetpu["compatible"]
    int8 = result.parity["artifacts"]["tflite_int8"]
    assert result.parity["images"] == SUBSET["test"]
    assert int8["agreement_with_pytorch"] >= 0.9
    assert result.parity["artifacts"]["onnx"]["agreement_with_pytorch"] == 1.0
