"""YOLO: the flat layout, Ultralytics/Roboflow data.yaml split entries, label lookup, bad input, the real export."""

from __future__ import annotations

import csv
import os
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from data import annotations as A
from data.annotations import DataError, label_path_for, parse_dataset, parse_yolo
from data.prepare import prepare_dataset
from data.prepare.cli import main

HARDHAT = Path(__file__).resolve().parents[2] / "shared/data/helmet-hardhat-yolo"


# --- fixtures ----------------------------------------------------------------------------------

def make_image(path: Path, size=(200, 100), color=(90, 90, 90)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def add_yolo(root: Path, rel_stem: str, lines: str, real=(200, 100), suffix=".jpg", image=True):
    """Flat layout: ROOT/images/<rel_stem><suffix> + ROOT/labels/<rel_stem>.txt."""
    if image:
        make_image((root / "images" / rel_stem).with_suffix(suffix), real)
    write((root / "labels" / rel_stem).with_suffix(".txt"), lines)


def add_pair(images_dir: Path, stem: str, lines: str | None, size=(200, 100)) -> Path:
    """An image in ``images_dir`` and, unless ``lines`` is None, its label in the sibling ``labels`` folder."""
    image = make_image(images_dir / f"{stem}.jpg", size)
    if lines is not None:
        write(label_path_for(image), lines)
    return image


def roboflow_export(root: Path) -> None:
    """What Roboflow's "YOLOv5 PyTorch" export writes: {train,valid,test}/{images,labels} + data.yaml."""
    write(root / "data.yaml", "train: ../train/images\nval: ../valid/images\ntest: ../test/images\n\n"
                              "nc: 2\nnames: ['helmet', 'nohelmet']\n")
    add_pair(root / "train/images", "t1", "0 0.5 0.5 0.2 0.4\n1 0.1 0.1 0.2 0.2\n")
    add_pair(root / "train/images", "t2", "1 0.5 0.5 0.5 0.5\n")
    add_pair(root / "valid/images", "v1", "0 0.25 0.25 0.1 0.1\n")
    add_pair(root / "test/images", "c1", "0 0.75 0.75 0.1 0.1\n")
    add_pair(root / "test/images", "background", None)


def problems(result) -> list[tuple[str, str, int | None]]:
    """(image name, else label file name, else "-"; reason; object index), sorted."""
    return sorted((getattr(r.image or r.annotation, "name", "-"), p.reason, p.object_index)
                  for r in result.records for p in r.problems)


def by_image(result) -> dict[str, A.ImageRecord]:
    return {r.image.name: r for r in result.records if r.image is not None}


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --- the label file of an image ------------------------------------------------------------------

def test_label_path_replaces_only_the_last_images_folder():
    assert label_path_for(Path("/d/train/images/a.jpg")) == Path("/d/train/labels/a.txt")
    assert label_path_for(Path("/d/images/x/images/y/a.b.png")) == Path("/d/images/x/labels/y/a.b.txt")
    assert label_path_for(Path("/d/pics/a.jpg")) == Path("/d/pics/a.txt")          # no images folder: beside it
    assert label_path_for(Path("/d/myimages/a.jpg")) == Path("/d/myimages/a.txt")  # a whole folder name only


# --- flat layout (ROOT/images + ROOT/labels) ---------------------------------------------------

def test_flat_layout_with_names_list_dict_and_flag(tmp_path):
    (tmp_path / "data.yaml").write_text("names: [helmet, head]\nnc: 2\n")
    add_yolo(tmp_path, "train/a", "0 0.5 0.5 0.2 0.4\n\n1 0.1 0.1 0.2 0.2\n")
    res = parse_yolo(tmp_path)
    rec = by_image(res)["a.jpg"]
    assert res.class_names == res.declared_names == ["helmet", "head"] and rec.size == (200, 100)
    assert [(o.index, o.name) for o in rec.objects] == [(0, "helmet"), (1, "head")]
    assert rec.objects[0].box == pytest.approx((80, 30, 120, 70))
    assert rec.objects[1].box == pytest.approx((0, 0, 40, 20))
    assert rec.image == (tmp_path / "images/train/a.jpg").resolve()
    assert rec.annotation == tmp_path / "labels/train/a.txt"

    (tmp_path / "data.yaml").write_text("names:\n  0: With Helmet\n  1: Without Helmet\n")
    assert parse_yolo(tmp_path).class_names == ["With Helmet", "Without Helmet"]
    assert parse_yolo(tmp_path, names=["x", "y"]).class_names == ["x", "y"]


def test_box_sizes_are_exact_in_pixels(tmp_path):
    """h = 0.0125 x 640 = 8 px must stay 8.0 (not 7.99999999999994), or --min-side 8 drops it."""
    add_yolo(tmp_path, "a", "0 0.8421875 0.5578125 0.02109375 0.0125\n", real=(640, 640))
    x0, y0, x1, y1 = by_image(parse_yolo(tmp_path, names=["helmet"]))["a.jpg"].objects[0].box
    assert (x1 - x0, y1 - y0) == (13.5, 8.0)


def test_malformed_lines_and_bad_boxes(tmp_path):
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
    rec = by_image(parse_yolo(tmp_path, names=["helmet", "no_helmet"]))["a.jpg"]
    assert [o.index for o in rec.objects] == [0, 8]
    assert [(p.reason, p.object_index) for p in rec.problems] == [
        (A.MALFORMED_LINE, 1), (A.MALFORMED_LINE, 2), (A.MALFORMED_LINE, 3), ("unknown class '7'", 4),
        (A.BOX_OUTSIDE, 5), (A.DEGENERATE_BOX, 6), (A.MALFORMED_LINE, 7)]


def test_flat_missing_image_empty_label_and_background_image(tmp_path):
    add_yolo(tmp_path, "noimg", "0 0.5 0.5 0.2 0.2\n", image=False)
    add_yolo(tmp_path, "empty", "")
    make_image(tmp_path / "images" / "background.png")
    res = parse_yolo(tmp_path, names=["helmet"])
    assert problems(res) == [("background.png", A.NO_LABEL_FILE, None),
                             ("empty.jpg", A.NO_OBJECTS, None),
                             ("noimg.txt", A.IMAGE_MISSING, None)]


def test_two_images_with_one_label_file_read_it_once(tmp_path):
    add_yolo(tmp_path, "a", "0 0.5 0.5 0.2 0.2\n")
    make_image(tmp_path / "images" / "a.png")
    res = parse_yolo(tmp_path, names=["helmet"])
    assert problems(res) == [("a.png", A.SHARED_LABEL_FILE, None)]
    assert sum(len(r.objects) for r in res.records) == 1


def test_names_are_required_and_validated(tmp_path):
    add_yolo(tmp_path, "a", "0 0.5 0.5 0.2 0.2\n")
    with pytest.raises(DataError, match="--names"):
        parse_yolo(tmp_path)
    (tmp_path / "data.yaml").write_text("names: {0: a, 2: b}\n")
    with pytest.raises(DataError, match="0..N-1"):
        parse_yolo(tmp_path)
    (tmp_path / "data.yaml").write_text("names: [unclosed\n")
    with pytest.raises(DataError, match="cannot read .*data.yaml"):
        parse_yolo(tmp_path)
    (tmp_path / "data.yaml").write_text("- just\n- a list\n")
    with pytest.raises(DataError, match="cannot read .*data.yaml.*mapping"):
        parse_yolo(tmp_path, names=["a"])
    (tmp_path / "data.yaml").write_text("nc: 3\nnames: [a, b]\n")
    with pytest.raises(DataError, match=r"data.yaml: nc is 3 but names lists 2 classes"):
        parse_yolo(tmp_path)


# --- data.yaml split entries -------------------------------------------------------------------

def test_roboflow_export_reads_train_valid_test_in_place(tmp_path):
    roboflow_export(tmp_path)
    res = parse_dataset(tmp_path, "yolo")
    assert res.class_names == ["helmet", "nohelmet"]
    images = by_image(res)
    assert sorted(images) == ["background.jpg", "c1.jpg", "t1.jpg", "t2.jpg", "v1.jpg"]
    assert images["t1.jpg"].annotation == tmp_path / "train/labels/t1.txt"
    assert images["t1.jpg"].objects[0].box == pytest.approx((80, 30, 120, 70))
    assert images["v1.jpg"].image == (tmp_path / "valid/images/v1.jpg").resolve()
    assert [o.name for o in images["t2.jpg"].objects] == ["nohelmet"]
    assert problems(res) == [("background.jpg", A.NO_LABEL_FILE, None)]
    assert sum(r.n_declared_objects for r in res.records) == 5


def test_ultralytics_yaml_with_path_list_entry_and_an_image_listed_twice(tmp_path):
    ds = tmp_path / "datasets/hats"
    write(tmp_path / "data.yaml", "path: datasets/hats\ntrain: [images/train, images/extra]\nval: images/val\n"
                                  "test: images/val\nnames: {0: hardhat, 1: head}\n")
    add_pair(ds / "images/train", "a", "0 0.5 0.5 0.2 0.2\n")
    add_pair(ds / "images/extra", "b", "1 0.5 0.5 0.2 0.2\n")
    add_pair(ds / "images/val", "c", "0 0.5 0.5 0.2 0.2\n1 0.2 0.2 0.1 0.1\n")
    res = parse_yolo(tmp_path)
    assert sorted(r.image.name for r in res.records) == ["a.jpg", "b.jpg", "c.jpg"]   # c read once
    assert sum(len(r.objects) for r in res.records) == 4
    assert res.class_names == ["hardhat", "head"]
    assert by_image(res)["b.jpg"].annotation == ds / "labels/extra/b.txt"
    assert problems(res) == []


def test_txt_image_list_relative_to_its_folder(tmp_path):
    write(tmp_path / "data.yaml", "train: lists/train.txt\nnames: [helmet]\n")
    add_pair(tmp_path / "lists/images", "dot", "0 0.5 0.5 0.2 0.2\n")
    add_pair(tmp_path / "lists/images", "plain", "0 0.5 0.5 0.2 0.2\n")
    add_pair(tmp_path / "other/images", "up", "0 0.5 0.5 0.2 0.2\n")
    absolute = add_pair(tmp_path / "other/images", "absolute", "0 0.5 0.5 0.2 0.2\n")
    add_pair(tmp_path / "lists/images", "nolabel", None)
    make_image(tmp_path.parent / f"{tmp_path.name}-outside.jpg")
    far = make_image(tmp_path.parent / f"{tmp_path.name}-far/a-outside.jpg")
    write(tmp_path / "lists/train.txt", "\n".join([
        "./images/dot.jpg", "images/plain.jpg", "../other/images/up.jpg", str(absolute), "images/nolabel.jpg",
        "images/gone.jpg", f"../../{tmp_path.name}-outside.jpg", str(far),
        ""]))
    res = parse_yolo(tmp_path)
    assert sorted(n for n, r in by_image(res).items() if r.usable) == ["absolute.jpg", "dot.jpg", "plain.jpg", "up.jpg"]
    assert problems(res) == [("-", A.PATH_ESCAPES, None), ("-", A.PATH_ESCAPES, None),
                             ("gone.jpg", A.IMAGE_MISSING, None), ("nolabel.jpg", A.NO_LABEL_FILE, None)]
    escaped = [r for r in res.records if any(p.reason == A.PATH_ESCAPES for p in r.problems)]
    assert all(r.image is None and "-outside.jpg resolves outside" in r.problems[0].detail for r in escaped)


def test_nested_images_folders_replace_only_the_last(tmp_path):
    write(tmp_path / "data.yaml", "train: data/images/set1/images\nnames: [helmet, head]\n")
    image = make_image(tmp_path / "data/images/set1/images/a.jpg")
    write(tmp_path / "data/images/set1/labels/a.txt", "1 0.5 0.5 0.2 0.2\n")     # the right one
    write(tmp_path / "data/labels/set1/images/a.txt", "0 0.5 0.5 0.9 0.9\n")     # first images/ replaced: wrong
    rec = by_image(parse_yolo(tmp_path))["a.jpg"]
    assert rec.image == image.resolve() and [o.name for o in rec.objects] == ["head"]


def test_label_without_image_in_a_split_is_counted(tmp_path):
    roboflow_export(tmp_path)
    write(tmp_path / "valid/labels/lost.txt", "0 0.5 0.5 0.2 0.2\n")
    res = parse_yolo(tmp_path)
    assert problems(res) == [("background.jpg", A.NO_LABEL_FILE, None), ("lost.txt", A.IMAGE_MISSING, None)]


def test_symlinked_image_leaving_the_root_is_not_read(tmp_path):
    root = tmp_path / "ds"
    roboflow_export(root)
    secret = make_image(tmp_path / "secret.jpg")
    os.symlink(secret, root / "train/images/link.jpg")
    write(root / "train/labels/link.txt", "0 0.5 0.5 0.2 0.2\n")
    res = parse_yolo(root)
    rec = next(r for r in res.records if r.annotation == root / "train/labels/link.txt")
    assert rec.image is None and [p.reason for p in rec.problems] == [A.PATH_ESCAPES]
    assert all(r.image is None or r.image.is_relative_to(root.resolve()) for r in res.records)


# --- bad data.yaml entries: DataError naming the entry and where it led -------------------------

def test_entry_that_does_not_exist(tmp_path):
    roboflow_export(tmp_path)
    write(tmp_path / "data.yaml", "train: ../train/images\nval: ../val/images\nnames: [helmet, nohelmet]\n")
    with pytest.raises(DataError) as info:
        parse_yolo(tmp_path)
    assert "val: '../val/images'" in str(info.value) and str(tmp_path / "val/images") in str(info.value)
    assert "does not exist" in str(info.value) and "data.yaml" in str(info.value)


def test_entry_resolving_outside_the_root(tmp_path):
    root = tmp_path / "ds"
    roboflow_export(root)
    add_pair(tmp_path / "elsewhere/images", "x", "0 0.5 0.5 0.2 0.2\n")
    write(root / "data.yaml", "train: ../elsewhere/images\nnames: [helmet, nohelmet]\n")
    with pytest.raises(DataError, match=r"train: '../elsewhere/images' resolves to .*elsewhere/images, outside"):
        parse_yolo(root)
    os.symlink(tmp_path / "elsewhere/images", root / "linked")
    write(root / "data.yaml", "train: linked\nnames: [helmet, nohelmet]\n")
    with pytest.raises(DataError, match=r"train: 'linked' resolves to .*elsewhere/images, outside the dataset root"):
        parse_yolo(root)
    write(root / "data.yaml", f"path: {tmp_path}\ntrain: elsewhere/images\nnames: [helmet, nohelmet]\n")
    with pytest.raises(DataError, match=r"path: .* outside the dataset root"):
        parse_yolo(root)


def test_split_folder_without_labels(tmp_path):
    roboflow_export(tmp_path)
    for label in (tmp_path / "valid/labels").iterdir():
        label.unlink()
    with pytest.raises(DataError) as info:
        parse_yolo(tmp_path)
    message = str(info.value)
    assert "val: '../valid/images'" in message and "none of its 1 images has a label file" in message
    assert f"looked in {tmp_path / 'valid/labels'}" in message


def test_entry_of_the_wrong_kind_or_without_images(tmp_path):
    roboflow_export(tmp_path)
    write(tmp_path / "data.yaml", "train: 3\nnames: [helmet, nohelmet]\n")
    with pytest.raises(DataError, match="train: expected a folder, a .txt image list or a list of them, got 3"):
        parse_yolo(tmp_path)
    write(tmp_path / "data.yaml", "train: README.md\nnames: [helmet, nohelmet]\n")
    write(tmp_path / "README.md", "hi")
    with pytest.raises(DataError, match="neither a folder nor a .txt image list"):
        parse_yolo(tmp_path)
    (tmp_path / "empty/images").mkdir(parents=True)
    write(tmp_path / "data.yaml", "train: empty/images\nnames: [helmet, nohelmet]\n")
    with pytest.raises(DataError, match=r"train: 'empty/images' .* has no images"):
        parse_yolo(tmp_path)


# --- prepare ------------------------------------------------------------------------------------

def test_prepare_a_roboflow_export_through_the_cli(tmp_path, capsys):
    roboflow_export(tmp_path / "src")
    out = tmp_path / "out"
    assert main(["--format", "yolo", "--root", str(tmp_path / "src"), "--out", str(out), "--min-side", "0",
                 "--split", "1,0,0"]) == 0
    rows = read_csv(out / "manifest.csv")
    assert Counter((r["class"], r["source_class"]) for r in rows) == {
        ("helmet", "helmet"): 3, ("no_helmet", "nohelmet"): 2}
    assert {r["image"] for r in rows} >= {"train/images/t1.jpg", "valid/images/v1.jpg", "test/images/c1.jpg"}
    assert [(s["image"], s["reason"]) for s in read_csv(out / "skipped.csv")] == [
        ("test/images/background.jpg", A.NO_LABEL_FILE)]


def test_prepare_refuses_a_declared_class_without_crops(tmp_path):
    roboflow_export(tmp_path / "src")
    with pytest.raises(DataError) as info:        # short sides: helmet 40, 10, 10 px; nohelmet 20, 50 px
        prepare_dataset(tmp_path / "src", tmp_path / "out", "yolo", min_side=45)
    message = str(info.value)
    assert "no crop of class 'helmet'" in message and "declares 'helmet' (" in message and "too small: 4" in message
    assert not (tmp_path / "out").exists()
    with pytest.raises(DataError, match=r"no crop of class 'no_helmet' .* declares 'person' \("):
        prepare_dataset(tmp_path / "src", tmp_path / "out", "yolo", min_side=0,
                        class_map={"nohelmet": "helmet", "person": "no_helmet"}, names=["helmet", "nohelmet", "person"])


@pytest.mark.skipif(not (HARDHAT / "data.yaml").is_file(),
                    reason=f"helmet-hardhat-yolo not found at {HARDHAT} (it lives outside the repo, in ../shared)")
def test_helmet_hardhat_export_accounts_for_every_box(tmp_path):
    report = prepare_dataset(HARDHAT, tmp_path / "crops", "yolo")
    rows = read_csv(tmp_path / "crops/manifest.csv")
    object_skips = [s for s in read_csv(tmp_path / "crops/skipped.csv") if s["object"] != ""]
    # README: 359 photos, 1,419 boxes (1,038 helmet, 381 nohelmet), all as train/valid/test exported
    assert report.objects_seen == 1419 and report.annotations_read == 359
    assert len(rows) + len(object_skips) == 1419
    # every box is usable: none outside its image, none under 8 px once read exactly (the smallest is 8.0)
    assert report.skipped == {} and report.crops == 1419
    assert Counter((r["source_class"], r["class"]) for r in rows) == {
        ("helmet", "helmet"): 1038, ("nohelmet", "no_helmet"): 381}
    assert Counter(r["image"].split("/")[0] for r in rows) == {"train": 1017, "valid": 283, "test": 119}
