"""The one source of truth for how an image becomes model input.

Training, calibration, evaluation, prediction and explanation all go through this module:
decode -> RGB -> resize to a square ``input_size`` -> uint8 HWC ("raw camera bytes") ->
float in [0, 1]. Mean/std normalisation lives *inside* the models, so every exported model takes
the raw pixels scaled by 1/255, and the int8 model takes the bytes themselves.

Decoding never trusts the file (docs/bad_inputs.md):

* an image of more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels (89.5 M by default) is refused before its
  pixels are decoded, also between 1x and 2x that limit, where PIL itself only warns and decodes: a photo
  of heads is far smaller, while a 16 kB PNG declaring 100 M pixels would take 300 MB as RGB;
* a truncated file is an error, never a half-grey image (``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` must
  stay False: if another library turned it on, decoding stops with a ConfigError);
* the EXIF orientation tag is NOT applied: pixels stay in the frame they are stored in, which is the
  frame ``Image.open`` gives and the one annotation boxes refer to. The tag is only recorded
  (``exif_orientation``) so that annotations declaring the rotated frame can be told apart.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from .errors import ConfigError, ImageDecodeError, ImageTooLargeError

LABELS: tuple[str, ...] = ("helmet", "no_helmet")
DEFAULT_INPUT_SIZE = 96
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
SPEC_FILENAME = "preprocess.json"
LABELS_FILENAME = "labels.txt"
EXIF_ORIENTATION_TAG = 0x0112
_ORIENTATION_INFO = "exif_orientation"  # key in the decoded image's ``info``
_TOO_LARGE = "image too large, refused as a possible decompression bomb"


def exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation (1-8, 1 = stored upright) of an image decoded by ``load_rgb``; 1 when untagged."""
    return image.info.get(_ORIENTATION_INFO, 1)


def _stored_orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(EXIF_ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block only means "no usable tag"; the pixels decide
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _refuse_truncated_images_switch() -> None:
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise ConfigError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES was turned on (by another library or script): "
                          "truncated images would decode as half-grey pictures; turn it off")


def _open_within_pixel_limit(path: Path) -> Image.Image:
    """``Image.open`` (header only), refusing more than ``MAX_IMAGE_PIXELS`` pixels: PIL raises only above
    twice the limit and merely warns between, which would still decode the bomb."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused just below, naming the file
            image = Image.open(path)
    except Image.DecompressionBombError as e:
        raise ImageTooLargeError(f"{_TOO_LARGE}: {path}: {e}") from e
    limit = Image.MAX_IMAGE_PIXELS
    width, height = image.size
    if limit is not None and width * height > limit:
        image.close()
        raise ImageTooLargeError(f"{_TOO_LARGE}: {path} declares {width}x{height} = {width * height} pixels, "
                                 f"over PIL's Image.MAX_IMAGE_PIXELS ({limit})")
    return image


@dataclass(frozen=True)
class PreprocessSpec:
    input_size: int = DEFAULT_INPUT_SIZE
    labels: tuple[str, ...] = LABELS
    channel_order: str = "RGB"
    scale: float = 1.0 / 255.0
    resize: str = "bilinear"
    layout_torch: str = "NCHW"
    layout_tflite: str = "NHWC"
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if self.input_size < 16:
            raise ValueError(f"input_size must be >= 16, got {self.input_size}")
        if tuple(self.labels) != LABELS:
            raise ValueError(f"label order must be {LABELS} (0 = helmet, 1 = no_helmet), got {tuple(self.labels)}")
        if self.channel_order != "RGB":
            raise ValueError(f"only RGB channel order is supported, got {self.channel_order!r}")
        object.__setattr__(self, "labels", tuple(self.labels))

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["labels"] = list(self.labels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PreprocessSpec":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)

    def save(self, directory: str | Path) -> list[Path]:
        """Write ``preprocess.json`` and ``labels.txt`` into ``directory``; returns the paths."""
        directory = Path(directory)
        spec_path = directory / SPEC_FILENAME
        labels_path = directory / LABELS_FILENAME
        spec_path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        labels_path.write_text("\n".join(self.labels) + "\n")
        return [spec_path, labels_path]

    @classmethod
    def load(cls, directory: str | Path) -> "PreprocessSpec":
        path = Path(directory) / SPEC_FILENAME
        if not path.is_file():
            raise FileNotFoundError(f"no preprocessing spec {path}")
        try:
            spec = cls.from_dict(json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError) as e:
            raise ValueError(f"unreadable preprocessing spec {path}: {e}") from e
        labels_path = Path(directory) / LABELS_FILENAME
        if labels_path.is_file():
            labels = tuple(line.strip() for line in labels_path.read_text().splitlines() if line.strip())
            if labels != spec.labels:
                raise ValueError(f"{labels_path} says {labels} but {path} says {spec.labels}")
        return spec

    # --- the pipeline ---------------------------------------------------------------------
    def load_rgb(self, path: str | Path) -> Image.Image:
        """Decode an image file to RGB in its stored frame, raising ImageDecodeError with the path on any
        failure (ImageTooLargeError for a possible decompression bomb). The EXIF orientation is not applied,
        only kept for ``exif_orientation``."""
        path = Path(path)
        _refuse_truncated_images_switch()
        try:
            with _open_within_pixel_limit(path) as im:
                im.load()
                rgb = im.convert("RGB")
                rgb.info[_ORIENTATION_INFO] = _stored_orientation(im)
                return rgb
        except FileNotFoundError as e:
            raise ImageDecodeError(f"image not found: {path}") from e
        except Image.DecompressionBombError as e:  # a plugin's own check while decoding (e.g. a TIFF frame)
            raise ImageTooLargeError(f"{_TOO_LARGE}: {path}: {e}") from e
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
            raise ImageDecodeError(f"cannot decode image {path}: {e}") from e

    def to_uint8(self, image: Image.Image | np.ndarray) -> np.ndarray:
        """Resize an RGB image to the square input size; returns HWC uint8 (the model's raw input)."""
        if isinstance(image, np.ndarray):
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(f"expected an HxWx3 uint8 array, got {image.dtype} {image.shape}")
            image = Image.fromarray(image)
        size = (self.input_size, self.input_size)
        if image.mode != "RGB":
            image = image.convert("RGB")
        if image.size != size:
            image = image.resize(size, Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.uint8)

    def load_uint8(self, path: str | Path) -> np.ndarray:
        return self.to_uint8(self.load_rgb(path))

    def to_float_nhwc(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 (N)HWC -> float32 in [0, 1], same layout (TensorFlow / TFLite float input)."""
        return pixels.astype(np.float32) * np.float32(self.scale)

    def to_float_nchw(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 NHWC -> float32 NCHW in [0, 1] (PyTorch / ONNX input)."""
        if pixels.ndim == 3:
            pixels = pixels[None]
        return np.ascontiguousarray(self.to_float_nhwc(pixels).transpose(0, 3, 1, 2))

