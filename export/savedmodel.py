"""Stage 2: ONNX -> TensorFlow SavedModel (NHWC input) with onnx2tf, strictly offline.

onnx2tf loads ``calibration_image_sample_data_20x128x128x3_float32.npy`` from the *current working
directory* for 3-channel image inputs and downloads it when absent. We run it in a temporary
directory holding that file, made from our own images, so it never touches the network. That directory
lies beside the SavedModel (in the export's staging directory), so a full disk is met there, and
whatever it leaves is removed with the staging directory.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from data.errors import ConversionError

from .artifacts import stage, write_bytes

ONNX2TF_SAMPLE_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"


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
    out_dir = Path(out_dir).resolve()
    with tempfile.TemporaryDirectory(prefix=".onnx2tf-", dir=out_dir.parent) as tmp:
        tmp = Path(tmp)
        buffer = io.BytesIO()
        np.save(buffer, samples)
        write_bytes(tmp / ONNX2TF_SAMPLE_FILE, buffer.getvalue())  # np.save's own failed write names no file
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
        out_dir.mkdir(parents=True)
        for name in ("saved_model.pb", "fingerprint.pb", "variables", "assets"):
            if (produced / name).exists():
                shutil.move(str(produced / name), out_dir / name)
    logging.getLogger("export").debug("onnx2tf output kept: %s", sorted(p.name for p in out_dir.iterdir()))
    return out_dir
