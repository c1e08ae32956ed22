"""Stage 2: ONNX -> TensorFlow SavedModel (NHWC input) with onnx2tf, strictly offline.

onnx2tf loads ``calibration_image_sample_data_20x128x128x3_float32.npy`` from the *current working
directory* for 3-channel image inputs and downloads it when absent. We run it in a temporary
directory holding that file, made from our own images, so it never touches the network.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .artifacts import stage

ONNX2TF_SAMPLE_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"


class ConversionError(RuntimeError):
    pass


@contextlib.contextmanager
def _working_directory(path: Path):
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


@stage("SavedModel")
def onnx_to_saved_model(onnx_path: Path, out_dir: Path, sample_images_nhwc: np.ndarray) -> Path:
    """``sample_images_nhwc``: float32 images in [0, 1] at the model's input size (20 are used)."""
    import onnx2tf

    if sample_images_nhwc.ndim != 4 or sample_images_nhwc.shape[-1] != 3:
        raise ValueError(f"sample images must be NHWC RGB, got shape {sample_images_nhwc.shape}")
    samples = np.resize(sample_images_nhwc.astype(np.float32), (20, *sample_images_nhwc.shape[1:]))
    onnx_path = Path(onnx_path).resolve()  # before the chdir below: a relative path would resolve against tmp
    with tempfile.TemporaryDirectory(prefix="onnx2tf-") as tmp:
        tmp = Path(tmp)
        np.save(tmp / ONNX2TF_SAMPLE_FILE, samples)
        with _working_directory(tmp):
            try:
                onnx2tf.convert(
                    input_onnx_file_path=str(onnx_path),
                    output_folder_path=str(tmp / "out"),
                    copy_onnx_input_output_names_to_tflite=True,
                    non_verbose=True,
                )
            except SystemExit as e:  # onnx2tf exits the process on some conversion errors
                raise ConversionError(f"onnx2tf failed on {onnx_path} (exit {e.code})") from e
        produced = tmp / "out"
        if not (produced / "saved_model.pb").is_file():
            raise ConversionError(f"onnx2tf produced no SavedModel for {onnx_path}")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True)
        for name in ("saved_model.pb", "fingerprint.pb", "variables", "assets"):
            if (produced / name).exists():
                shutil.move(str(produced / name), out_dir / name)
    logging.getLogger("export").debug("onnx2tf output kept: %s", sorted(p.name for p in out_dir.iterdir()))
    return out_dir
