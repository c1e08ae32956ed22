"""Hostile and broken image files, fed to the entry points a user runs: ``data.images.load_images`` (training,
calibration, prediction) and ``data.prepare`` (crops). Each ends as a counted skip with a clear reason, or one
clear error, and nothing written half-way. Annotations are in test_hostile_annotations.py, checkpoints in
test_hostile_checkpoints.py; docs/bad_inputs.md lists them all."""

from __future__ import annotations

import csv
import json
import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from data import annotations as A
from data.errors import ConfigError
from data.images import load_images
from data.prepare import prepare_dataset
from data.prepare.cli import main as prepare_main
from data.preprocessing import PreprocessSpec

SPEC = PreprocessSpec()
RED, BLUE = (220, 20, 20), (20, 20, 220)


# --- fixtures ------------------------------------------------------------------------------------

def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(path: Path, width: int, height: int, complete: bool = False) -> Path:
    """A PNG whose header declares ``width`` x ``height``: a valid all-black 1-bit image when ``complete``
    (a few kB: rows of zeros compress ~1000:1), else a header with no pixel data at all."""
    rows = (b"\x00" * (1 + (width + 7) // 8)) * height if complete else b"\x00" * 8
    header = struct.pack(">IIBBBBB", width, height, 1 if complete else 8, 0 if complete else 2, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(rows, 9))
                     + png_chunk(b"IEND", b""))
    return path


def photo(path: Path, size=(96, 72), seed: int = 0, boxes=(), colour=RED, exif: Image.Exif | None = None) -> Path:
    """A seeded grey-pattern photo (so photos differ) with ``boxes`` painted solid ``colour``."""
    levels = np.random.default_rng(seed).integers(40, 216, (4, 4), dtype=np.uint8)
    image = Image.fromarray(levels).resize(size, Image.NEAREST).convert("RGB")
    for x0, y0, x1, y1 in boxes:
        image.paste(colour, (x0, y0, x1, y1))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **({"exif": exif, "quality": 95} if exif is not None else {}))
    return path


def voc_xml(root: Path, stem: str, filename: str, declared, objects) -> None:
    objs = "".join(f"<object><name>{name}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax>"
                   f"<ymax>{b[3]}</ymax></bndbox></object>" for name, b in objects)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / f"{stem}.xml").write_text(
        f"<annotation><filename>{filename}</filename><size><width>{declared[0]}</width><height>{declared[1]}"
        f"</height></size>{objs}</annotation>")


HEADS = [("helmet", (10, 10, 40, 40)), ("head", (50, 20, 80, 50))]


def good_voc(root: Path, n: int = 4) -> None:
    """``n`` ordinary photos with one head of each class."""
    for i in range(n):
        photo(root / "images" / f"good{i}.png", seed=i)
        voc_xml(root, f"good{i}", f"good{i}.png", (96, 72), HEADS)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:  # strict UTF-8: a surrogate would fail here
        return list(csv.DictReader(f))


def skips(out: Path) -> dict[str, str]:
    """image -> reason of the image-level rows of skipped.csv."""
    return {row["image"]: row["reason"] for row in read_csv(out / "skipped.csv") if row["object"] == ""}


def prepare(root: Path, out: Path, fmt: str = "voc", **settings):
    return prepare_dataset(root, out, fmt, fractions=(1, 0, 0), **settings)


# --- 1. decompression bombs ------------------------------------------------------------------------

def test_bomb_headers_are_refused_before_any_pixel_is_decoded(tmp_path, recwarn):
    """At PIL's real limit (89.5 M pixels): 30000 x 30000 (over twice the limit: PIL's DecompressionBombError)
    and a *valid* 10000 x 10000 PNG of 16 kB (between the limit and twice it, where PIL only warns and would
    decode 300 MB of RGB) are both skips; nothing is decoded, so it takes milliseconds."""
    error_zone = png_declaring(tmp_path / "error_zone.png", 30000, 30000)
    warning_zone = png_declaring(tmp_path / "warning_zone.png", 10000, 10000, complete=True)
    assert warning_zone.stat().st_size < 50_000
    started = time.perf_counter()
    loaded = load_images([error_zone, warning_zone, photo(tmp_path / "fine.png")], SPEC)
    assert time.perf_counter() - started < 2.0
    assert [p.name for p in loaded.paths] == ["fine.png"]
    assert [Path(path).name for path, _ in loaded.skipped] == ["error_zone.png", "warning_zone.png"]
    for path, reason in loaded.skipped:
        assert reason.startswith("image too large, refused as a possible decompression bomb") and path in reason
    assert "10000x10000 = 100000000 pixels" in loaded.skipped[1][1]
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_bombs_in_both_zones_are_counted_skips_in_prepare(tmp_path, monkeypatch):
    """PIL's limit is lowered to 100 x 100 pixels (the knob PIL documents) so that small real photos fall in
    each zone; without that, a warning-zone photo that decodes would need 100 M pixels."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100)
    root, out = tmp_path / "src", tmp_path / "out"
    good_voc(root)                                                         # 96 x 72: under the limit
    for stem, size in (("warning_zone", (110, 110)), ("error_zone", (150, 150))):  # 12100 and 22500 pixels
        photo(root / "images" / f"{stem}.png", size=size, seed=9)
        voc_xml(root, stem, f"{stem}.png", size, HEADS)
    report = prepare(root, out)
    assert report.skipped == {A.IMAGE_TOO_LARGE: 2} and report.crops == 8
    assert skips(out) == {"images/warning_zone.png": A.IMAGE_TOO_LARGE, "images/error_zone.png": A.IMAGE_TOO_LARGE}
    details = [row["detail"] for row in read_csv(out / "skipped.csv")]
    assert all("decompression bomb" in d for d in details) and "110x110 = 12100 pixels" in "".join(details)
    assert not any("zone" in row["crop"] for row in read_csv(out / "manifest.csv"))


# --- 2. truncated files ------------------------------------------------------------------------------

def truncated(path: Path) -> Path:
    """A noisy photo (so pixel data fills the file) cut at half its bytes."""
    pixels = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_truncated_png_and_jpeg_are_skipped_by_load_images_not_half_grey(tmp_path):
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    loaded = load_images([truncated(tmp_path / "half.png"), truncated(tmp_path / "half.jpg"),
                          photo(tmp_path / "whole.png")], SPEC, labels=[0, 1, 0])
    assert [p.name for p in loaded.paths] == ["whole.png"] and loaded.labels.tolist() == [0]
    assert [(Path(p).name, "truncated" in r.lower()) for p, r in loaded.skipped] == [("half.png", True),
                                                                                   ("half.jpg", True)]


def test_truncated_png_and_jpeg_are_counted_skips_in_prepare(tmp_path):
    root, out = tmp_path / "src", tmp_path / "out"
    good_voc(root)
    for name in ("half.png", "half.jpg"):
        truncated(root / "images" / name)
        voc_xml(root, Path(name).suffix[1:], name, (64, 64), HEADS)
    report = prepare(root, out)
    assert skips(out) == {"images/half.png": A.CORRUPT_IMAGE, "images/half.jpg": A.CORRUPT_IMAGE}
    assert report.crops == 8 and not any("half" in row["crop"] for row in read_csv(out / "manifest.csv"))


def test_turning_on_pils_truncated_images_switch_stops_decoding(tmp_path, monkeypatch, capsys):
    """Another library setting PIL's process-wide switch would make truncated files decode half grey:
    every loader stops with one error instead (the switch is PIL's, restored after the test)."""
    root = tmp_path / "src"
    good_voc(root)
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(ConfigError, match="LOAD_TRUNCATED_IMAGES"):
        load_images([root / "images/good0.png"], SPEC)
    assert prepare_main(["--format", "voc", "--root", str(root), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: PIL.ImageFile.LOAD_TRUNCATED_IMAGES was turned on")
    assert not (tmp_path / "out").exists()


# --- 3. EXIF orientation ---------------------------------------------------------------------------

def rotated_jpeg(path: Path) -> Path:
    """200 x 100 stored pixels, left half red and right half blue, tagged EXIF orientation 6 (a viewer shows
    it 100 x 200, turned a quarter clockwise: red on top)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (200, 100), BLUE)
    image.paste(RED, (0, 0, 100, 100))
    image.save(path, exif=exif, quality=95)
    return path


def mean_colour(path: Path) -> tuple[int, ...]:
    return tuple(int(c) for c in np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3).mean(0))


def test_exif_orientation_is_never_applied_boxes_and_crops_are_in_the_stored_frame(tmp_path):
    root, out = tmp_path / "src", tmp_path / "out"
    good_voc(root)
    rotated_jpeg(root / "images/stored.jpg")        # declared in the stored frame: cut as stored
    voc_xml(root, "stored", "stored.jpg", (200, 100), [("helmet", (20, 20, 80, 80)), ("head", (120, 20, 180, 80))])
    rotated_jpeg(root / "images/turned.jpg")        # declared 100 x 200: drawn on the rotated picture
    voc_xml(root, "turned", "turned.jpg", (100, 200), [("helmet", (20, 20, 80, 80))])
    report = prepare(root, out)
    assert skips(out) == {"images/turned.jpg": A.EXIF_ROTATED_FRAME}
    detail = next(r["detail"] for r in read_csv(out / "skipped.csv") if r["image"] == "images/turned.jpg")
    assert "declared size 100x200 is the EXIF-rotated frame (orientation 6) of the stored 200x100" in detail
    crops = {r["object"]: out / r["crop"] for r in read_csv(out / "manifest.csv") if r["image"] == "images/stored.jpg"}
    red, blue = mean_colour(crops["0"]), mean_colour(crops["1"])
    assert red[0] > 180 and red[2] < 60 and blue[2] > 180 and blue[0] < 60, (red, blue)
    assert any("1 photo(s) of dataset src have an EXIF orientation tag" in w for w in report.warnings)


def test_load_images_uses_the_same_stored_frame(tmp_path):
    jpeg = rotated_jpeg(tmp_path / "r.jpg")
    pixels = load_images([jpeg], SPEC).pixels[0]
    with Image.open(jpeg) as stored:
        assert stored.size == (200, 100)                       # PIL's Image.open does not apply the tag either
        assert np.array_equal(pixels, SPEC.to_uint8(stored.convert("RGB")))
        upright = SPEC.to_uint8(ImageOps.exif_transpose(stored).convert("RGB"))
    assert not np.array_equal(pixels, upright)
    assert pixels[10, 85, 2] > 180 and pixels[85, 10, 0] > 180   # top right blue, bottom left red: as stored


# --- 5. file names that are not UTF-8 --------------------------------------------------------------

def non_utf8(folder: Path, name: bytes) -> Path:
    path = Path(os.fsdecode(os.fsencode(folder) + b"/" + name))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    except (OSError, UnicodeError):
        pytest.skip("this file system does not take file names that are not UTF-8")
    return path


def test_a_yolo_photo_named_with_non_utf8_bytes_is_kept_with_escaped_names(tmp_path, capsys):
    root, out = tmp_path / "src", tmp_path / "out"
    for i in range(3):
        photo(root / "images" / f"ok{i}.png", seed=i)
        (root / "labels").mkdir(parents=True, exist_ok=True)
        (root / "labels" / f"ok{i}.txt").write_text("0 0.25 0.4 0.3 0.4\n1 0.7 0.5 0.3 0.4\n")
    photo(non_utf8(root / "images", b"img\xff.png"), seed=7)
    non_utf8(root / "labels", b"img\xff.txt").write_text("0 0.25 0.4 0.3 0.4\n")
    photo(non_utf8(root / "images", b"bg\xfe.png"), seed=8)            # no label file: a background image
    code = prepare_main(["--format", "yolo", "--root", str(root), "--names", "helmet,head", "--out", str(out),
                         "--split", "1,0,0"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "prepared 7 crops" in captured.out
    row = next(r for r in read_csv(out / "manifest.csv") if r["image"] == "images/img\\xff.png")
    assert row["crop"].endswith("src__img%FF_0.png") and (out / row["crop"]).is_file()
    assert row["annotation"] == "labels/img\\xff.txt" and row["photo_group"] == "src:images/img\\xff.png"
    assert skips(out) == {"images/bg\\xfe.png": A.NO_LABEL_FILE}
    report = json.loads((out / "prepare_report.json").read_text(encoding="utf-8"))
    assert report["crops"] == 7


def test_a_voc_photo_named_with_non_utf8_bytes_is_a_readable_skipped_row(tmp_path):
    """A VOC/COCO annotation is text and cannot name such a file: the photo is reported unannotated."""
    root, out = tmp_path / "src", tmp_path / "out"
    good_voc(root)
    photo(non_utf8(root / "images", b"caf\xe9.png"))                    # Latin-1 "café"
    prepare(root, out)
    assert skips(out) == {"images/caf\\xe9.png": A.NO_ANNOTATION}


def test_load_images_reads_non_utf8_names_and_reports_broken_ones_in_utf8(tmp_path):
    good = photo(non_utf8(tmp_path, b"ok\xff.png"))
    broken = non_utf8(tmp_path, b"bad\xfe.png")
    broken.write_bytes(b"not an image")
    loaded = load_images([good, broken], SPEC)
    assert loaded.paths == [good] and loaded.paths[0].is_file()      # the real name, still usable
    (path, reason), = loaded.skipped
    assert path.endswith("bad\\xfe.png") and "bad\\xfe.png" in reason
    json.dumps(loaded.skipped, ensure_ascii=False).encode("utf-8")    # writable anywhere, strictly

