"""Parsing VOC / YOLO annotations: geometry, class maps and every kind of bad input as a counted problem."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from data import annotations as A
from data.annotations import ClassMap, DataError, apply_class_map, parse_dataset, parse_voc, parse_yolo


# --- fixtures ----------------------------------------------------------------------------------

def make_image(path: Path, size=(200, 150), color=(90, 90, 90)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def voc_xml(filename: str, declared=(400, 300), objects=()) -> str:
    objs = "".join(
        f"<object><name>{name}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
        f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for name, b in objects
    )
    return (f"<annotation><folder>images</folder><filename>{filename}</filename>"
            f"<size><width>{declared[0]}</width><height>{declared[1]}</height><depth>3</depth></size>{objs}</annotation>")


def add_voc(root: Path, stem: str, objects=(), declared=(400, 300), real=(200, 150), filename=None,
            xml: str | None = None, image=True) -> None:
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "images").mkdir(parents=True, exist_ok=True)
    if image:
        make_image(root / "images" / f"{stem}.png", real)
    text = xml if xml is not None else voc_xml(filename or f"{stem}.png", declared, objects)
    (root / "annotations" / f"{stem}.xml").write_text(text)


def problems(result) -> list[tuple[str, str, int | None]]:
    return [(r.annotation.name if r.annotation else r.image.name, p.reason, p.object_index)
            for r in result.records for p in r.problems]


def record(result, stem):
    return next(r for r in result.records if r.annotation is not None and r.annotation.stem == stem)


# --- VOC ---------------------------------------------------------------------------------------

def test_voc_boxes_are_scaled_from_declared_to_real_size(tmp_path):
    add_voc(tmp_path, "a", [("With Helmet", (100, 60, 200, 120)), ("Without Helmet", (0, 0, 40, 30))],
            declared=(400, 300), real=(200, 150))
    res = parse_voc(tmp_path)
    rec = record(res, "a")
    assert rec.usable and rec.size == (200, 150) and rec.declared_size == (400, 300)
    assert [o.name for o in rec.objects] == ["With Helmet", "Without Helmet"]
    assert rec.objects[0].box == pytest.approx((50, 30, 100, 60))
    assert rec.objects[1].box == pytest.approx((0, 0, 20, 15))
    assert rec.problems == []
    # non-uniform stretch (the real dataset: 400x267 declared, 224x224 real)
    add_voc(tmp_path, "b", [("helmet", (40, 26.7, 80, 53.4))], declared=(400, 267), real=(224, 224))
    box = record(parse_voc(tmp_path), "b").objects[0].box
    assert box == pytest.approx((22.4, 22.4, 44.8, 44.8), abs=1e-6)


def test_voc_box_outside_image_within_tolerance_is_clipped_beyond_is_skipped(tmp_path):
    add_voc(tmp_path, "a", [("helmet", (-0.5, 10, 400.9, 50)),      # within 1 px: kept, clipped
                            ("helmet", (10, 10, 402, 50)),          # 2 px past the right edge
                            ("helmet", (149282, 10520, 177697, 32350)),  # the real dataset's corrupt kind
                            ("helmet", (50, 50, 50, 80)),           # zero width
                            ("helmet", (60, 80, 40, 90))],          # inverted
            declared=(400, 300), real=(400, 300))
    rec = record(parse_voc(tmp_path), "a")
    assert [o.index for o in rec.objects] == [0]
    assert rec.objects[0].box == pytest.approx((0, 10, 400, 50))
    assert [(p.reason, p.object_index) for p in rec.problems] == [
        (A.BOX_OUTSIDE, 1), (A.BOX_OUTSIDE, 2), (A.DEGENERATE_BOX, 3), (A.DEGENERATE_BOX, 4)]


def test_malformed_xml_is_a_counted_problem_and_its_image_is_not_double_reported(tmp_path):
    add_voc(tmp_path, "good", [("helmet", (10, 10, 50, 50))])
    add_voc(tmp_path, "bad", xml="<annotation><filename>bad.png</filename><size>")
    add_voc(tmp_path, "wrongroot", xml="<html><body/></html>")
    res = parse_voc(tmp_path)
    assert sorted(problems(res)) == [("bad.xml", A.MALFORMED_ANNOTATION, None),
                                     ("wrongroot.xml", A.MALFORMED_ANNOTATION, None)]
    assert record(res, "good").usable and not record(res, "bad").usable


def test_xml_entity_expansion_is_refused_by_defusedxml(tmp_path):
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
            "<annotation><filename>&lol2;.png</filename></annotation>")
    add_voc(tmp_path, "bomb", xml=bomb)
    rec = record(parse_voc(tmp_path), "bomb")
    assert [p.reason for p in rec.problems] == [A.MALFORMED_ANNOTATION]
    assert "Entit" in rec.problems[0].detail


def test_missing_fields_and_non_numeric_coordinates(tmp_path):
    add_voc(tmp_path, "nosize", xml="<annotation><filename>nosize.png</filename></annotation>")
    add_voc(tmp_path, "nofile", xml="<annotation><size><width>4</width><height>4</height></size></annotation>")
    add_voc(tmp_path, "zerosize", declared=(0, 300), objects=[("helmet", (1, 1, 5, 5))])
    add_voc(tmp_path, "objs", xml=(
        "<annotation><filename>objs.png</filename><size><width>200</width><height>150</height></size>"
        "<object><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox></object>"
        "<object><name>helmet</name></object>"
        "<object><name>helmet</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax></bndbox></object>"
        "<object><name>helmet</name><bndbox><xmin>a</xmin><ymin>1</ymin><xmax>nan</xmax><ymax>9</ymax></bndbox></object>"
        "<object><name>helmet</name><bndbox><xmin>1.5</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox></object>"
        "</annotation>"))
    res = parse_voc(tmp_path)
    assert [p.reason for p in record(res, "nosize").problems] == [A.MISSING_FIELD]
    assert [p.reason for p in record(res, "nofile").problems] == [A.MISSING_FIELD]
    assert [p.reason for p in record(res, "zerosize").problems] == [A.INVALID_SIZE]
    objs = record(res, "objs")
    assert [(p.reason, p.object_index) for p in objs.problems] == [
        (A.MISSING_FIELD, 0), (A.MISSING_FIELD, 1), (A.MISSING_FIELD, 2), (A.NON_NUMERIC, 3)]
    assert "xmin='a'" in objs.problems[3].detail and "xmax='nan'" in objs.problems[3].detail
    assert [o.index for o in objs.objects] == [4]


@pytest.mark.parametrize("filename", ["../../etc/passwd", "../../../outside.png", "/etc/passwd",
                                      "C:\\Windows\\x.png", "\\\\server\\share\\x.png"])
def test_filename_escaping_the_root_is_skipped(tmp_path, filename):
    root = tmp_path / "ds"
    make_image(tmp_path / "outside.png")
    add_voc(root, "a", [("helmet", (1, 1, 9, 9))], filename=filename)
    rec = record(parse_voc(root), "a")
    assert [p.reason for p in rec.problems] == [A.PATH_ESCAPES]
    assert rec.image is None and not rec.usable


def test_dotdot_that_stays_inside_the_root_is_allowed(tmp_path):
    add_voc(tmp_path, "a", [("helmet", (1, 1, 9, 9))], filename="../images/a.png")
    assert record(parse_voc(tmp_path), "a").usable


def test_symlink_to_an_image_outside_the_root_is_skipped(tmp_path):
    root = tmp_path / "ds"
    outside = make_image(tmp_path / "secret.png")
    add_voc(root, "a", [("helmet", (1, 1, 9, 9))], image=False)
    os.symlink(outside, root / "images" / "a.png")
    assert [p.reason for p in record(parse_voc(root), "a").problems] == [A.PATH_ESCAPES]


def test_missing_and_corrupt_images(tmp_path):
    add_voc(tmp_path, "gone", [("helmet", (1, 1, 9, 9))], image=False)
    add_voc(tmp_path, "corrupt", [("helmet", (1, 1, 9, 9))], image=False)
    (tmp_path / "images" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    add_voc(tmp_path, "truncated", [("helmet", (1, 1, 9, 9))], real=(64, 64))
    data = (tmp_path / "images" / "truncated.png").read_bytes()
    (tmp_path / "images" / "truncated.png").write_bytes(data[: len(data) // 2])
    res = parse_voc(tmp_path)
    assert [p.reason for p in record(res, "gone").problems] == [A.IMAGE_MISSING]
    assert [p.reason for p in record(res, "corrupt").problems] == [A.CORRUPT_IMAGE]
    assert [p.reason for p in record(res, "truncated").problems] == [A.CORRUPT_IMAGE]


def test_no_objects_unannotated_image_and_duplicate_annotation(tmp_path):
    add_voc(tmp_path, "empty")
    add_voc(tmp_path, "a", [("helmet", (1, 1, 9, 9))])
    add_voc(tmp_path, "a_again", [("helmet", (1, 1, 9, 9))], filename="a.png", image=False)
    make_image(tmp_path / "images" / "lonely.jpg")
    res = parse_voc(tmp_path)
    assert sorted(problems(res)) == [("a_again.xml", A.DUPLICATE_ANNOTATION, None),
                                     ("empty.xml", A.NO_OBJECTS, None),
                                     ("lonely.jpg", A.NO_ANNOTATION, None)]


def test_unknown_class_and_class_map(tmp_path):
    add_voc(tmp_path, "a", [("With Helmet", (1, 1, 9, 9)), ("  without   helmet ", (1, 1, 9, 9)),
                            ("person", (1, 1, 9, 9)), ("HEAD", (1, 1, 9, 9))])
    res = parse_voc(tmp_path)
    apply_class_map(res, ClassMap())
    rec = record(res, "a")
    assert [(o.index, o.label) for o in rec.objects] == [(0, "helmet"), (1, "no_helmet"), (3, "no_helmet")]
    assert [(p.reason, p.object_index) for p in rec.problems] == [("unknown class 'person'", 2)]

    res = parse_voc(tmp_path)
    apply_class_map(res, ClassMap.from_entries(["person=no_helmet", "head=helmet"]))
    assert [o.label for o in record(res, "a").objects] == ["helmet", "no_helmet", "no_helmet", "helmet"]


def test_class_map_rejects_bad_entries():
    with pytest.raises(ValueError, match="label must be one of"):
        ClassMap({"helmet": "hard_hat"})
    with pytest.raises(ValueError, match="NAME=LABEL"):
        ClassMap.from_entries(["helmet"])
    assert ClassMap.from_entries(["a=b=helmet"]).get("a=b") == "helmet"


# --- YOLO --------------------------------------------------------------------------------------

def add_yolo(root: Path, rel_stem: str, lines: str, real=(200, 100), suffix=".jpg", image=True):
    if image:
        make_image((root / "images" / rel_stem).with_suffix(suffix), real)
    lab = (root / "labels" / rel_stem).with_suffix(".txt")
    lab.parent.mkdir(parents=True, exist_ok=True)
    lab.write_text(lines)


def test_yolo_happy_path_with_names_list_dict_and_flag(tmp_path):
    (tmp_path / "data.yaml").write_text("names: [helmet, head]\nnc: 2\n")
    add_yolo(tmp_path, "train/a", "0 0.5 0.5 0.2 0.4\n\n1 0.1 0.1 0.2 0.2\n")
    res = parse_yolo(tmp_path)
    rec = record(res, "a")
    assert res.class_names == ["helmet", "head"] and rec.size == (200, 100)
    assert [(o.index, o.name) for o in rec.objects] == [(0, "helmet"), (1, "head")]
    assert rec.objects[0].box == pytest.approx((80, 30, 120, 70))
    assert rec.objects[1].box == pytest.approx((0, 0, 40, 20))
    assert rec.image == (tmp_path / "images/train/a.jpg").resolve()

    (tmp_path / "data.yaml").write_text("names:\n  0: With Helmet\n  1: Without Helmet\n")
    assert parse_yolo(tmp_path).class_names == ["With Helmet", "Without Helmet"]
    assert parse_yolo(tmp_path, names=["x", "y"]).class_names == ["x", "y"]


def test_yolo_malformed_lines_and_bad_boxes(tmp_path):
    add_yolo(tmp_path, "a", "\n".join([
        "0 0.5 0.5 0.2 0.2",        # 0 ok
        "0 0.5 0.5 0.2",            # 1 four fields
        "x 0.5 0.5 0.2 0.2",        # 2 non-numeric class
        "0 0.5 0.5 0.2 0.2 0.9",    # 3 six fields (a detection with a score)
        "7 0.5 0.5 0.2 0.2",        # 4 class id without a name
        "1 0.95 0.5 0.2 0.2",       # 5 right edge at 1.05 (10 px over)
        "1 0.5 0.5 0 0.2",          # 6 zero width
        "1 0.5 0.5 inf 0.2",        # 7 non-finite
        "0.0 0.5 0.5 0.2 0.2",      # 8 integral float class id: ok
    ]) + "\n")
    res = parse_yolo(tmp_path, names=["helmet", "no_helmet"])
    rec = record(res, "a")
    assert [o.index for o in rec.objects] == [0, 8]
    assert [(p.reason, p.object_index) for p in rec.problems] == [
        (A.MALFORMED_LINE, 1), (A.MALFORMED_LINE, 2), (A.MALFORMED_LINE, 3), ("unknown class '7'", 4),
        (A.BOX_OUTSIDE, 5), (A.DEGENERATE_BOX, 6), (A.MALFORMED_LINE, 7)]


def test_yolo_missing_image_empty_label_and_unannotated_image(tmp_path):
    add_yolo(tmp_path, "noimg", "0 0.5 0.5 0.2 0.2\n", image=False)
    add_yolo(tmp_path, "empty", "")
    make_image(tmp_path / "images" / "background.png")
    res = parse_yolo(tmp_path, names=["helmet"])
    assert sorted(problems(res)) == [("background.png", A.NO_ANNOTATION, None),
                                     ("empty.txt", A.NO_OBJECTS, None),
                                     ("noimg.txt", A.IMAGE_MISSING, None)]


def test_yolo_names_are_required_and_validated(tmp_path):
    add_yolo(tmp_path, "a", "0 0.5 0.5 0.2 0.2\n")
    with pytest.raises(DataError, match="--names"):
        parse_yolo(tmp_path)
    (tmp_path / "data.yaml").write_text("names: {0: a, 2: b}\n")
    with pytest.raises(DataError, match="0..N-1"):
        parse_yolo(tmp_path)
    (tmp_path / "data.yaml").write_text("names: [unclosed\n")
    with pytest.raises(DataError, match="cannot read"):
        parse_yolo(tmp_path)


# --- layout errors -----------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["voc", "yolo"])
def test_layout_errors(tmp_path, fmt):
    with pytest.raises(DataError, match="does not exist"):
        parse_dataset(tmp_path / "nope", fmt, names=["a"] if fmt == "yolo" else None)
    root = tmp_path / "ds"
    root.mkdir()
    with pytest.raises(DataError, match="is empty"):
        parse_dataset(root, fmt, names=["a"] if fmt == "yolo" else None)
    (root / "images").mkdir()
    with pytest.raises(DataError, match="annotations directory" if fmt == "voc" else "labels directory"):
        parse_dataset(root, fmt, names=["a"] if fmt == "yolo" else None)
    (root / ("annotations" if fmt == "voc" else "labels")).mkdir()
    with pytest.raises(DataError, match="no .xml" if fmt == "voc" else "no .txt"):
        parse_dataset(root, fmt, names=["a"] if fmt == "yolo" else None)
    (root / "images").rmdir()
    with pytest.raises(DataError, match="images directory"):
        parse_dataset(root, fmt, names=["a"] if fmt == "yolo" else None)
