"""Stage 3: SavedModel -> TFLite float32, and full-integer int8 for the Edge TPU.

The int8 model uses only TFLITE_BUILTINS_INT8 (no Flex ops, no float fallback) and is calibrated
on real training images through the shared preprocessing. The first calibration image carries one
black and one white pixel, so the input range is exactly [0, 1]: the input quantization becomes
scale 1/255 with zero point -128 (int8) or 0 (uint8), i.e. raw camera bytes go straight in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from data.errors import ConfigError

from .artifacts import stage, write_bytes

IO_TYPES = ("int8", "uint8")


def _converter(saved_model: Path):
    import tensorflow as tf

    return tf, tf.lite.TFLiteConverter.from_saved_model(str(saved_model))


@stage("TFLite float32")
def convert_float32(saved_model: Path, path: Path) -> Path:
    _, converter = _converter(saved_model)
    return write_bytes(path, converter.convert())


def pin_input_range(calibration_nhwc: np.ndarray) -> np.ndarray:
    pinned = calibration_nhwc.astype(np.float32, copy=True)
    pinned[0, 0, 0, :] = 0.0
    pinned[0, 0, 1, :] = 1.0
    return pinned


@stage("TFLite int8")
def convert_int8(saved_model: Path, path: Path, calibration_nhwc: np.ndarray,
                 io_type: str = "int8", per_tensor: bool = False) -> Path:
    """``calibration_nhwc``: float32 images in [0, 1] at the input size (the representative dataset)."""
    if io_type not in IO_TYPES:
        raise ConfigError(f"io_type must be one of {IO_TYPES}, got {io_type!r}")
    tf, converter = _converter(saved_model)
    samples = pin_input_range(calibration_nhwc)

    def representative_dataset():
        for image in samples:
            yield [image[None]]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = getattr(tf, io_type)
    converter.inference_output_type = getattr(tf, io_type)
    if per_tensor:
        converter._experimental_disable_per_channel = True  # noqa: SLF001 - the converter's only switch for it
    return write_bytes(path, converter.convert())
