"""What an export starts from: its settings (checked before anything is loaded) and the loaded checkpoint,
calibration images and parity images."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.errors import ConfigError
from data.images import Images
from data.preprocessing import PreprocessSpec
from data.sources import SPLITS, load_labelled
from lightning_modules.checkpoint import LoadedClassifier, load_classifier

from .calibration import calibration_pixels
from .tflite_convert import IO_TYPES

log = logging.getLogger("export")

DEFAULT_MIN_INT8_AGREEMENT = 0.95
MIN_INT8_AGREEMENT_HELP = (
    "fail (exit 1) when an int8 row (LiteRT default, LiteRT reference or TFLM kernels) predicts the same class as "
    "PyTorch on fewer than this share of the parity images (default %(default)s). Sound full-int8 exports agree on "
    "96.7-100 %% (this project's real-photo folds; 98.3 %% even for an undertrained model, README): a class flips "
    "only where PyTorch's own margin is tiny. Below 95 %% the quantization itself is broken (calibration on the "
    "wrong images, a range blown up by an outlier, a per-tensor depthwise layer), not noise")


@dataclass(frozen=True)
class ExportSettings:
    data: str | None = None             # calibration and parity data (None: the checkpoint's own)
    calib_samples: int = 300
    io_type: str = "int8"
    per_tensor: bool = False
    split: str = "test"                 # the parity split
    min_int8_agreement: float = DEFAULT_MIN_INT8_AGREEMENT

    def __post_init__(self):
        if self.io_type not in IO_TYPES:
            raise ConfigError(f"--io-type must be one of {IO_TYPES}, got {self.io_type!r}")
        if self.split not in SPLITS:
            raise ConfigError(f"--split must be one of {SPLITS}, got {self.split!r}")
        check_agreement_bound(self.min_int8_agreement)


def check_agreement_bound(bound: float) -> float:
    if not 0.0 <= bound <= 1.0:
        raise ConfigError(f"--min-int8-agreement must be a share in [0, 1], got {bound}")
    return bound


@dataclass
class ExportInputs:
    checkpoint: Path
    classifier: LoadedClassifier
    source: str                         # the data actually used
    calibration: np.ndarray             # uint8 NHWC training images
    evaluation: Images                  # the parity images

    @property
    def spec(self) -> PreprocessSpec:
        return self.classifier.spec


def load_inputs(ckpt: Path, settings: ExportSettings) -> ExportInputs:
    loaded = load_classifier(ckpt)
    source, seed, counts = settings.data or loaded.data_source, loaded.data.get("seed", 0), loaded.data.get(
        "synthetic_counts")
    calibration = calibration_pixels(source, loaded.spec, settings.calib_samples, seed, counts)
    evaluation = load_labelled(source, settings.split, loaded.spec, seed, counts)
    log.info("%s from %s: %d calibration images, %d %s images of %s", loaded.arch, ckpt, len(calibration),
             len(evaluation), settings.split, source)
    return ExportInputs(Path(ckpt), loaded, source, calibration, evaluation)
