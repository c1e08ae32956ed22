"""COCO JSON: both layouts, Roboflow's supercategory quirk, iscrowd, xywh boxes scaled from the declared
size, every bad entry as a counted problem and every unreadable file as a DataError naming it."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from data import annotations as A
from data.annotations import DataError, parse_coco, parse_dataset
from data.prepare import prepare_dataset
from data.prepare.cli import main

# Roboflow: category 0 is the project ("helmets", supercategory "none"), the classes name it as theirs
ROBOFLOW_CATEGORIES = [{"id": 0, "name": "helmets", "supercategory": "none"},
                       {"id": 1, "name": "With Helmet", "supercategory": "helmets"},
                       {"id": 2, "name": "Without Helmet", "supercategory": "helmets"}]


def make_image(path: Path, size=(200, 150)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 90, 90)).save(path)
    return path


def image_entry(image_id: int, file_name: str, declared=(400, 300)) -> dict:
    return {"id": image_id, "file_name": file_name, "width": declared[0], "height": declared[1]}


def box(ann_id: int, image_id: int, category: int, bbox, **extra) -> dict:
    return {"id": ann_id, "image_id": image_id, "category_id": category, "bbox": list(bbox), "iscrowd": 0,
            "area": 1.0, **extra}


def write_json(path: Path, images, annotations, categories=ROBOFLOW_CATEGORIES) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"info": {}, "images": images, "annotations": annotations,
                                "categories": categories}))
    return path


def by_image(result) -> dict[str, A.ImageRecord]:
    return {r.image.name: r for r in result.records if r.image is not None}


def reasons(record) -> list[tuple[str, int | None]]:
    return [(p.reason, p.object_index) for p in record.problems]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def roboflow_split(root: Path, split: str, first_id: int = 0) -> None:
    """ROOT/<split>/_annotations.coco.json with two photos beside it, declared 400x300, real 200x150."""
    folder = root / split
    make_image(folder / "a.jpg")
    make_image(folder / "b.jpg")
    write_json(folder / "_annotations.coco.json",
               [image_entry(first_id, "a.jpg"), image_entry(first_id + 1, "b.jpg")],
               [box(1, first_id, 1, (100, 60, 100, 60)), box(2, first_id, 2, (0, 0, 40, 30)),
                box(3, first_id + 1, 2, (200, 100, 80, 80)), box(4, first_id + 1, 1, (10, 10, 300, 200), iscrowd=1)])


# --- Roboflow layout -----------------------------------------------------------------------------

def test_roboflow_export_boxes_scaled_from_the_declared_size(tmp_path):
    roboflow_split(tmp_path, "train")
    res = parse_coco(tmp_path)
    assert res.declared_names == ["With Helmet", "Without Helmet"]      # "helmets" is only their group
    a = by_image(res)["a.jpg"]
    assert a.usable and a.size == (200, 150) and a.declared_size == (400, 300)
    assert [(o.index, o.name) for o in a.objects] == [(0, "With Helmet"), (1, "Without Helmet")]
    assert a.objects[0].box == pytest.approx((50, 30, 100, 60))
    assert a.objects[0].declared_box == (100, 60, 100, 60)
    assert a.objects[1].box == pytest.approx((0, 0, 20, 15))
    b = by_image(res)["b.jpg"]
    assert b.objects[0].box == pytest.approx((100, 50, 140, 90))
    assert reasons(b) == [(A.CROWD_ANNOTATION, 1)]
    assert a.annotation == tmp_path / "train/_annotations.coco.json"


def test_roboflow_splits_are_read_together(tmp_path):
    roboflow_split(tmp_path, "train")
    roboflow_split(tmp_path, "valid", first_id=0)      # ids restart per json
    make_image(tmp_path / "valid/stray.jpg")
    res = parse_dataset(tmp_path, "coco")
    usable = sorted(r.image.relative_to(tmp_path.resolve()).as_posix() for r in res.records if r.usable)
    assert usable == ["train/a.jpg", "train/b.jpg", "valid/a.jpg", "valid/b.jpg"]
    stray = next(r for r in res.records if r.image is not None and r.image.name == "stray.jpg")
    assert reasons(stray) == [(A.NO_ANNOTATION, None)]
    assert sum(len(r.objects) for r in res.records) == 6


def test_a_group_category_that_an_annotation_uses_is_a_class(tmp_path):
    make_image(tmp_path / "train/a.jpg")
    write_json(tmp_path / "train/_annotations.coco.json", [image_entry(1, "a.jpg")],
               [box(1, 1, 0, (10, 10, 50, 50))])
    res = parse_coco(tmp_path)
    assert res.declared_names == ["helmets", "With Helmet", "Without Helmet"]
    assert [o.name for o in by_image(res)["a.jpg"].objects] == ["helmets"]


def test_string_image_ids_match_exactly(tmp_path):
    make_image(tmp_path / "train/a.jpg")
    write_json(tmp_path / "train/_annotations.coco.json", [image_entry("a", "a.jpg")],
               [box(1, "a", 1, (10, 10, 50, 50)), box(2, 0, 1, (10, 10, 50, 50))])
    res = parse_coco(tmp_path)
    assert [o.name for o in by_image(res)["a.jpg"].objects] == ["With Helmet"]
    assert [p.reason for r in res.records if r.image is None for p in r.problems] == [A.UNKNOWN_IMAGE]


# --- COCO layout: annotations/instances*.json ----------------------------------------------------

def test_instances_json_with_images_folder_and_the_folder_the_json_names(tmp_path):
    categories = [{"id": 1, "name": "head", "supercategory": "person"}, {"id": 2, "name": "hardhat"}]
    make_image(tmp_path / "images/a.jpg", (400, 300))
    write_json(tmp_path / "annotations/instances_train.json", [image_entry(1, "a.jpg")],
               [box(1, 1, 2, (10, 20, 30, 40))], categories)
    make_image(tmp_path / "val2017/b.jpg", (400, 300))
    write_json(tmp_path / "annotations/instances_val2017.json", [image_entry(1, "b.jpg")],
               [box(1, 1, 1, (0, 0, 400, 300))], categories)
    res = parse_coco(tmp_path)
    images = by_image(res)
    assert images["a.jpg"].image == (tmp_path / "images/a.jpg").resolve()
    assert images["a.jpg"].objects[0].box == pytest.approx((10, 20, 40, 60))
    assert images["b.jpg"].image == (tmp_path / "val2017/b.jpg").resolve()
    assert [o.name for o in images["b.jpg"].objects] == ["head"]
    assert res.declared_names == ["head", "hardhat"]     # "person" is a supercategory but no category
    assert [r for r in res.records if r.problems] == []


# --- bad entries: counted problems ------------------------------------------------------------------

def test_bad_annotations_are_counted_problems(tmp_path):
    make_image(tmp_path / "train/a.jpg", (400, 300))
    anns = [box(1, 1, 1, (-0.5, 10, 400.9, 50)),   # 0: within 1 px of the edge: kept, clipped
            box(2, 1, 1, (10, 10, 392, 50)),       # 1: 2 px past the right edge
            box(3, 1, 1, (50, 50, 0, 30)),         # 2: zero width
            box(4, 1, 7, (1, 1, 9, 9)),            # 3: category 7 does not exist
            box(5, 1, 0, (1, 1, 9, 9)),            # (category 0 is the group, used here: becomes a class)
            box(6, 1, 1, (1, "a", 9, 9)),          # 5: non-numeric
            box(7, 1, 1, (1, 1, 9)),               # 6: three numbers
            {"id": 8, "image_id": 1, "category_id": 1},        # 7: no bbox
            box(9, 99, 1, (1, 1, 9, 9)),           # unknown image id
            "not an annotation"]
    write_json(tmp_path / "train/_annotations.coco.json", [image_entry(1, "a.jpg")], anns)
    res = parse_coco(tmp_path)
    a = by_image(res)["a.jpg"]
    assert [o.index for o in a.objects] == [0, 4] and a.objects[0].box == pytest.approx((0, 10, 400, 60))
    assert reasons(a) == [(A.BOX_OUTSIDE, 1), (A.DEGENERATE_BOX, 2), (A.UNKNOWN_CATEGORY, 3), (A.NON_NUMERIC, 5),
                          (A.MALFORMED_ANNOTATION, 6), (A.MISSING_FIELD, 7)]
    assert a.n_declared_objects == 8
    orphans = next(r for r in res.records if r.image is None)
    assert reasons(orphans) == [(A.UNKNOWN_IMAGE, 8), (A.MALFORMED_ANNOTATION, 9)]
    assert "image id 99" in orphans.problems[0].detail


def test_a_bool_category_id_is_an_unknown_category(tmp_path):
    make_image(tmp_path / "train/a.jpg")
    write_json(tmp_path / "train/_annotations.coco.json", [image_entry(1, "a.jpg")],
               [box(1, 1, 1, (10, 10, 50, 50)), box(2, 1, True, (10, 10, 50, 50))])
    a = by_image(parse_coco(tmp_path))["a.jpg"]
    assert reasons(a) == [(A.UNKNOWN_CATEGORY, 1)]      # True is not category 1


@pytest.mark.parametrize("file_name", ["../../outside.jpg", "/etc/passwd", "C:\\Windows\\x.png"])
def test_file_name_escaping_the_root_is_counted(tmp_path, file_name):
    root = tmp_path / "ds"
    make_image(tmp_path / "outside.jpg")
    write_json(root / "train/_annotations.coco.json", [image_entry(1, file_name)], [box(1, 1, 1, (1, 1, 9, 9))])
    rec = parse_coco(root).records[0]
    assert reasons(rec) == [(A.PATH_ESCAPES, None)] and rec.image is None and rec.n_declared_objects == 1


def test_missing_corrupt_and_badly_declared_images_are_counted(tmp_path):
    folder = tmp_path / "train"
    make_image(folder / "ok.jpg")
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    make_image(folder / "nosize.jpg")
    make_image(folder / "zerosize.jpg")
    make_image(folder / "noid.jpg")
    images = [image_entry(1, "ok.jpg"), image_entry(2, "gone.jpg"), image_entry(3, "corrupt.jpg"),
              {"id": 4, "file_name": "nosize.jpg"}, image_entry(5, "zerosize.jpg", (0, 300)),
              {"id": 6, "width": 10, "height": 10}, image_entry(1, "ok.jpg"), 17,
              {"file_name": "noid.jpg", "width": 400, "height": 300}]
    write_json(folder / "_annotations.coco.json", images, [box(1, 1, 1, (10, 10, 50, 50))])
    res = parse_coco(tmp_path)
    got = sorted((getattr(r.image, "name", "-"), p.reason) for r in res.records for p in r.problems)
    assert got == [("-", A.MALFORMED_ANNOTATION), ("-", A.MISSING_FIELD), ("corrupt.jpg", A.CORRUPT_IMAGE),
                   ("gone.jpg", A.IMAGE_MISSING), ("noid.jpg", A.MISSING_FIELD), ("nosize.jpg", A.MISSING_FIELD),
                   ("ok.jpg", A.DUPLICATE_ANNOTATION), ("zerosize.jpg", A.INVALID_SIZE)]
    assert [r.image.name for r in res.records if r.usable] == ["ok.jpg"]


# --- unreadable files: DataError naming the file -----------------------------------------------------

@pytest.mark.parametrize("content, message", [
    ("{not json", "cannot read"),
    ("[1, 2]", "expected a JSON object"),
    ('{"images": [], "annotations": []}', "'categories' must be a list"),
    ('{"images": {}, "annotations": [], "categories": []}', "'images' must be a list"),
    ('{"images": [], "annotations": [], "categories": [{"id": "1", "name": "x"}]}', "needs an integer 'id'"),
    ('{"images": [], "annotations": [], "categories": [{"id": 1, "name": "x"}, {"id": 1, "name": "y"}]}',
     "category id 1 is listed twice"),
])
def test_unreadable_or_invalid_json_is_a_data_error(tmp_path, content, message):
    path = tmp_path / "valid/_annotations.coco.json"
    path.parent.mkdir()
    path.write_text(content)
    with pytest.raises(DataError) as info:
        parse_coco(tmp_path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_layout_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        parse_coco(tmp_path / "nope")
    (tmp_path / "images").mkdir()
    make_image(tmp_path / "images/a.jpg")
    with pytest.raises(DataError, match="no COCO annotation file in .*instances\\*.json"):
        parse_coco(tmp_path)
    with pytest.raises(DataError, match="--names only applies to --format yolo"):
        parse_dataset(tmp_path, "coco", names=["a"])


# --- prepare ------------------------------------------------------------------------------------

def test_prepare_coco_through_the_cli(tmp_path, capsys):
    roboflow_split(tmp_path / "src", "train")
    out = tmp_path / "out"
    assert main(["--format", "coco", "--root", str(tmp_path / "src"), "--out", str(out), "--split", "1,0,0"]) == 0
    rows = read_csv(out / "manifest.csv")
    assert Counter((r["class"], r["source_class"]) for r in rows) == {
        ("helmet", "With Helmet"): 1, ("no_helmet", "Without Helmet"): 2}
    a0 = next(r for r in rows if r["crop"] == "train/helmet/src__a_0.png")
    assert [float(a0[f"box_{k}"]) for k in ("x0", "y0", "x1", "y1")] == [50, 30, 100, 60]
    assert [(s["image"], s["object"], s["reason"]) for s in read_csv(out / "skipped.csv")] == [
        ("train/b.jpg", "1", A.CROWD_ANNOTATION)]


def test_prepare_refuses_a_declared_class_without_crops(tmp_path):
    make_image(tmp_path / "src/train/a.jpg")
    write_json(tmp_path / "src/train/_annotations.coco.json", [image_entry(1, "a.jpg")],
               [box(1, 1, 1, (100, 60, 100, 60)), box(2, 1, 2, (10, 10, 50, 50), iscrowd=1)])
    with pytest.raises(DataError, match=r"no crop of class 'no_helmet' .* declares 'Without Helmet' "
                                        r"\(top skip reasons: crowd annotation \(iscrowd\): 1"):
        prepare_dataset(tmp_path / "src", tmp_path / "out", "coco")
