import numpy as np
import pytest
from PIL import Image

from data.preprocessing import LABELS, ImageDecodeError, PreprocessSpec


def test_spec_roundtrip_writes_labels_in_project_order(tmp_path):
    spec = PreprocessSpec(input_size=96)
    spec.save(tmp_path)
    assert (tmp_path / "labels.txt").read_text().split() == ["helmet", "no_helmet"]
    assert PreprocessSpec.load(tmp_path) == spec


def test_spec_refuses_other_label_order_and_channel_order():
    with pytest.raises(ValueError, match="label order"):
        PreprocessSpec(labels=("no_helmet", "helmet"))
    with pytest.raises(ValueError, match="RGB"):
        PreprocessSpec(channel_order="BGR")


def test_spec_load_detects_labels_file_disagreeing(tmp_path):
    PreprocessSpec().save(tmp_path)
    (tmp_path / "labels.txt").write_text("no_helmet\nhelmet\n")
    with pytest.raises(ValueError, match="says"):
        PreprocessSpec.load(tmp_path)


def test_any_image_becomes_square_rgb_uint8(tmp_path):
    spec = PreprocessSpec(input_size=64)
    for mode, name in [("L", "gray.png"), ("RGBA", "rgba.png"), ("RGB", "wide.jpg")]:
        Image.new(mode, (120, 40), color=128 if mode == "L" else (10, 200, 30, 255)[: len(mode)]).save(tmp_path / name)
        pixels = spec.load_uint8(tmp_path / name)
        assert pixels.shape == (64, 64, 3) and pixels.dtype == np.uint8


def test_float_conversions_scale_to_unit_range_and_transpose():
    spec = PreprocessSpec(input_size=32)
    pixels = np.zeros((2, 32, 32, 3), np.uint8)
    pixels[0, 0, 0] = (255, 0, 128)
    nchw = spec.to_float_nchw(pixels)
    assert nchw.shape == (2, 3, 32, 32) and nchw.dtype == np.float32
    assert nchw[0, :, 0, 0] == pytest.approx([1.0, 0.0, 128 / 255])
    assert spec.to_float_nhwc(pixels)[0, 0, 0, 0] == 1.0


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_corrupt_image_raises_clear_error(tmp_path, content):
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(ImageDecodeError, match="broken.png"):
        PreprocessSpec().load_uint8(path)


def test_missing_image_raises_clear_error(tmp_path):
    with pytest.raises(ImageDecodeError, match="not found"):
        PreprocessSpec().load_uint8(tmp_path / "nope.png")


def test_labels_constant_is_helmet_then_no_helmet():
    assert LABELS == ("helmet", "no_helmet")
