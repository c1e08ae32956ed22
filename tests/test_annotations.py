"""Parsing VOC annotations, class-name normalisation and the class maps; every kind of bad input as a counted
problem. YOLO is in test_yolo.py, COCO in test_coco.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from data import annotations as A
from data.annotations import ClassMap, DataError, apply_class_map, normalise_class_name, parse_dataset, parse_voc
from data.prepare import prepare_dataset


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


@pytest.mark.parametrize("name", ["nohelmet", "no helmet", "no-helmet", "no_helmet", "No_Helmet", "Without Helmet",
                                  "without_helmet", "without-helmet", "head", "HEAD", "bare head", "bare_head",
                                  "no hardhat", "NO-Hardhat", "no_hardhat", " no -- hardhat "])
def test_default_class_map_sends_bare_head_spellings_to_no_helmet(name):
    assert ClassMap().get(name) == "no_helmet"


@pytest.mark.parametrize("name", ["helmet", "Helmet", "hardhat", "Hardhat", "hard hat", "hard-hat", "hard_hat",
                                  "With Helmet", "with_helmet", "with-helmet"])
def test_default_class_map_sends_helmet_spellings_to_helmet(name):
    assert ClassMap().get(name) == "helmet"


@pytest.mark.parametrize("name", ["person", "vest", "helmets", "no", "hat"])
def test_other_names_stay_unknown(name):
    assert ClassMap().get(name) is None


def test_class_names_match_ignoring_case_and_separator_runs():
    assert normalise_class_name("  NO-_ Hard--Hat ") == "no hard hat"
    assert normalise_class_name("Without\tHelmet") == "without helmet"
    assert normalise_class_name("nohelmet") == "nohelmet"       # no separator: a different key


def test_user_entries_override_the_defaults_under_any_spelling():
    cmap = ClassMap.from_entries(["No_Hardhat=helmet", "Safety-Vest=no_helmet"])
    assert cmap.get("NO-Hardhat") == "helmet" and cmap.get("no hardhat") == "helmet"
    assert cmap.get("safety vest") == "no_helmet" and cmap.get("nohelmet") == "no_helmet"
    shown = cmap.to_dict()
    assert shown["No_Hardhat"] == "helmet" and "no hardhat" not in shown   # one entry per key, the user's spelling
    assert ClassMap(defaults=False).get("helmet") is None


def test_voc_declared_names_are_the_names_in_the_files(tmp_path):
    add_voc(tmp_path, "a", [("With Helmet", (1, 1, 9, 9)), ("Dog", (600, 1, 900, 9))])
    add_voc(tmp_path, "b", [("Without Helmet", (50, 50, 50, 80))])     # rejected (degenerate), still declared
    assert parse_voc(tmp_path).declared_names == ["With Helmet", "Dog", "Without Helmet"]


def test_prepare_refuses_a_voc_source_whose_declared_class_yields_no_crop(tmp_path):
    root = tmp_path / "src"
    for i in range(3):
        add_voc(root, f"p{i}", [("With Helmet", (20, 20, 120, 120)), ("Without Helmet", (390, 20, 600, 120))])
    with pytest.raises(DataError) as info:
        prepare_dataset(root, tmp_path / "out", "voc")
    message = str(info.value)
    assert "no crop of class 'no_helmet'" in message and "'Without Helmet'" in message
    assert "box outside image: 3" in message
    assert not (tmp_path / "out").exists()


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
