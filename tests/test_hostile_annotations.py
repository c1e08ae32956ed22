"""Hostile annotation files and dataset layouts, through ``data.prepare`` (the entry point a user runs):
symlinks leading out of the dataset root, XML entity bombs and external entities, and label files too long
to read whole. Each ends as a counted skip with a clear reason, or one DataError line (CLI exit 2) and no
output. See docs/bad_inputs.md."""

from __future__ import annotations

import csv
import json
import os
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data import annotations as A
from data.annotations import parse_dataset
from data.errors import DataError
from data.prepare import prepare_dataset
from data.prepare.cli import main as prepare_main

HEADS = [("helmet", (10, 10, 40, 40)), ("head", (50, 20, 80, 50))]
YOLO_HEADS = "0 0.26 0.35 0.31 0.42\n1 0.68 0.49 0.31 0.42\n"   # the same two boxes, normalised to 96 x 72


# --- fixtures ------------------------------------------------------------------------------------

def photo(path: Path, seed: int = 0, size=(96, 72)) -> Path:
    levels = np.random.default_rng(seed).integers(40, 216, (4, 4), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(levels).resize(size, Image.NEAREST).convert("RGB").save(path)
    return path


def voc_text(filename: str, objects=HEADS, declared=(96, 72), prolog: str = "") -> str:
    objs = "".join(f"<object><name>{name}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax>"
                   f"<ymax>{b[3]}</ymax></bndbox></object>" for name, b in objects)
    return (f"{prolog}<annotation><filename>{filename}</filename><size><width>{declared[0]}</width>"
            f"<height>{declared[1]}</height></size>{objs}</annotation>")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def good_voc(root: Path, n: int = 4) -> None:
    for i in range(n):
        photo(root / "images" / f"good{i}.png", seed=i)
        write(root / "annotations" / f"good{i}.xml", voc_text(f"good{i}.png"))


def good_yolo(root: Path, n: int = 4) -> None:
    for i in range(n):
        photo(root / "images" / f"good{i}.png", seed=i)
        write(root / "labels" / f"good{i}.txt", YOLO_HEADS)
    write(root / "data.yaml", "names: [helmet, head]\n")


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def skipped(out: Path) -> dict[str, str]:
    """image (else annotation) -> reason of the image-level rows of skipped.csv."""
    return {row["image"] or row["annotation"]: row["reason"] for row in read_csv(out / "skipped.csv")
            if row["object"] == ""}


def all_output_text(out: Path) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in out.rglob("*") if p.suffix in (".csv", ".json"))


def prepare(root: Path, out: Path, fmt: str = "voc"):
    return prepare_dataset(root, out, fmt, fractions=(1, 0, 0))


def refused_by_the_cli(capsys, fmt: str, root: Path, out: Path, message: str) -> None:
    """The CLI exits 2 with one ``error:`` line containing ``message``, and ``out`` does not appear."""
    assert prepare_main(["--format", fmt, "--root", str(root), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert not out.exists()


# --- 4. symlinks leading out of the dataset root -----------------------------------------------------

def test_symlinked_annotations_folder_leading_out_of_the_root_is_refused_whole(tmp_path, capsys):
    root, outside = tmp_path / "src", tmp_path / "elsewhere"
    good_voc(root)
    os.rename(root / "annotations", outside)
    os.symlink(outside, root / "annotations")
    with pytest.raises(DataError, match=r"annotations directory .* outside the dataset root .* not read"):
        prepare(root, tmp_path / "out")
    refused_by_the_cli(capsys, "voc", root, tmp_path / "out", "path escapes dataset root")


@pytest.mark.parametrize("layout", ["yolo labels folder", "yolo data.yaml", "coco images folder"])
def test_other_folders_and_files_leading_out_of_the_root_are_refused_whole(tmp_path, capsys, layout):
    root, outside = tmp_path / "src", tmp_path / "elsewhere"
    if layout == "coco images folder":
        photo(outside / "a.png")
        write(root / "annotations/instances.json", json.dumps({
            "images": [{"id": 1, "file_name": "a.png", "width": 96, "height": 72}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 30]}],
            "categories": [{"id": 1, "name": "helmet"}]}))
        os.symlink(outside, root / "images")
    else:
        good_yolo(root)
        name = "labels" if layout == "yolo labels folder" else "data.yaml"
        os.rename(root / name, outside)
        os.symlink(outside, root / name)
    fmt = layout.split()[0]
    with pytest.raises(DataError, match="outside the dataset root"):
        prepare(root, tmp_path / "out", fmt)
    refused_by_the_cli(capsys, fmt, root, tmp_path / "out", "path escapes dataset root")


def test_symlinked_xml_image_and_label_files_leading_out_of_the_root_are_skipped_unread(tmp_path):
    """Each foreign file would make a crop if it were read: none does, and each is one counted skip."""
    voc, yolo, outside = tmp_path / "voc", tmp_path / "yolo", tmp_path / "elsewhere"
    good_voc(voc)
    photo(voc / "images/foreign.png", seed=4)
    os.symlink(write(outside / "foreign.xml", voc_text("foreign.png")), voc / "annotations/foreign.xml")
    os.symlink(photo(outside / "secret.png", seed=5), voc / "images/secret.png")
    write(voc / "annotations/secret.xml", voc_text("secret.png"))
    good_yolo(yolo)
    photo(yolo / "images/linked_label.png", seed=6)
    os.symlink(write(outside / "foreign.txt", YOLO_HEADS), yolo / "labels/linked_label.txt")
    os.symlink(outside / "secret.png", yolo / "images/linked_image.png")
    write(yolo / "labels/linked_image.txt", YOLO_HEADS)

    voc_report = prepare(voc, tmp_path / "voc_out")
    assert skipped(tmp_path / "voc_out") == {"annotations/foreign.xml": A.PATH_ESCAPES,
                                             "annotations/secret.xml": A.PATH_ESCAPES}
    yolo_report = prepare(yolo, tmp_path / "yolo_out", "yolo")
    assert skipped(tmp_path / "yolo_out") == {"images/linked_label.png": A.PATH_ESCAPES,
                                              "labels/linked_image.txt": A.PATH_ESCAPES}
    assert voc_report.crops == yolo_report.crops == 8               # the good photos' heads, nothing else
    for out in (tmp_path / "voc_out", tmp_path / "yolo_out"):
        assert {row["image"] for row in read_csv(out / "manifest.csv")} == {f"images/good{i}.png" for i in range(4)}


# --- 6. XML entity expansion and external entities ---------------------------------------------------

BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE annotation [<!ENTITY lol0 "lol">'
                  + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)) + "]>")


def external_entity(target: str) -> str:
    return f'<?xml version="1.0"?><!DOCTYPE annotation [<!ENTITY leak SYSTEM "{target}">]>'


def test_entity_bombs_and_external_entities_are_counted_malformed_and_never_expanded(tmp_path):
    root, out = tmp_path / "src", tmp_path / "out"
    good_voc(root)
    secret = write(tmp_path / "secret.txt", "TOKEN-3f1c9a never to be seen\n")
    photo(root / "images/secret.png", seed=7)
    write(root / "annotations/laughs.xml", voc_text("&lol9;.png", prolog=BILLION_LAUGHS))
    write(root / "annotations/passwd.xml", voc_text("&leak;", prolog=external_entity("file:///etc/passwd")))
    write(root / "annotations/secret.xml", voc_text("secret.png", [("&leak;", (10, 10, 40, 40))],
                                                    prolog=external_entity(secret.as_uri())))
    write(root / "annotations/parameter.xml", voc_text("secret.png", prolog=(
        f'<?xml version="1.0"?><!DOCTYPE annotation [<!ENTITY % p SYSTEM "{secret.as_uri()}"> %p;]>')))
    started = time.perf_counter()
    report = prepare(root, out)
    assert time.perf_counter() - started < 10
    assert report.skipped == {A.MALFORMED_ANNOTATION: 4} and report.crops == 8
    rows = {row["annotation"]: row["detail"] for row in read_csv(out / "skipped.csv")}
    assert all(rows[f"annotations/{stem}.xml"].startswith("EntitiesForbidden")
               for stem in ("laughs", "passwd", "secret", "parameter"))
    written = all_output_text(out)
    assert "TOKEN-3f1c9a" not in written and "lol" * 10 not in written
    passwd = Path("/etc/passwd")
    if passwd.is_file() and passwd.read_text().strip():
        assert passwd.read_text().splitlines()[0] not in written


def test_an_external_dtd_is_never_fetched(tmp_path):
    """A DOCTYPE naming an external DTD declares no entity: the annotation is read as usual, the DTD never."""
    root, out = tmp_path / "src", tmp_path / "out"
    good_voc(root)
    secret = write(tmp_path / "secret.dtd", '<!ENTITY leak "TOKEN-77d0">\n')
    photo(root / "images/dtd.png", seed=8)
    write(root / "annotations/dtd.xml", voc_text("dtd.png", prolog=(
        f'<?xml version="1.0"?><!DOCTYPE annotation SYSTEM "{secret.as_uri()}">')))
    report = prepare(root, out)
    assert report.crops == 10 and report.skipped == {}
    assert "TOKEN-77d0" not in all_output_text(out)


# --- 7. label files too long to read whole -----------------------------------------------------------

def test_huge_yolo_label_files_are_counted_skips_in_bounded_time_and_memory(tmp_path):
    root, out = tmp_path / "src", tmp_path / "out"
    good_yolo(root)
    huge = {"rows": "0 0.5 0.5 0.1 0.1\n" * 100_000,         # 1.8 MB: 100 times more heads than the cap
            "line": "0 " * 5_000_000,                        # one 10 MB line: not even read
            "long": "0 0.5 0.5 0.1 0.1 " * 10_000 + "\n" + YOLO_HEADS}  # a 180 kB line and two good ones
    for stem, text in huge.items():
        photo(root / "images" / f"{stem}.png", seed=9)
        write(root / "labels" / f"{stem}.txt", text)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        report = prepare(root, out, "yolo")
        seconds, (_, peak) = time.perf_counter() - started, tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seconds < 5 and peak < 64 * 2**20, (seconds, peak)
    assert skipped(out) == {"images/rows.png": A.TOO_MANY_OBJECTS, "images/line.png": A.ANNOTATION_TOO_LARGE}
    details = {row["image"]: row["detail"] for row in read_csv(out / "skipped.csv")}
    assert details["images/rows.png"] == "100000 label lines, more than the 1000 one image may have"
    assert "more than the 4194304 an annotation of one image may have; not read" in details["images/line.png"]
    assert details["images/long.png"] == "line 1: 180000 characters, far too long for 'class cx cy w h'"
    assert report.crops == 10 and report.objects_seen == 4 * 2 + 100_000 + 3


def test_voc_and_coco_images_with_more_objects_than_the_cap_are_one_skip(tmp_path):
    many = [("helmet", (10, 10, 40, 40))] * (A.MAX_OBJECTS_PER_IMAGE + 1)
    photo(tmp_path / "voc/images/crowd.png")
    write(tmp_path / "voc/annotations/crowd.xml", voc_text("crowd.png", many))
    photo(tmp_path / "coco/train/crowd.png")
    write(tmp_path / "coco/train/_annotations.coco.json", json.dumps({
        "images": [{"id": 1, "file_name": "crowd.png", "width": 96, "height": 72}],
        "annotations": [{"id": i, "image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 30]} for i in range(len(many))],
        "categories": [{"id": 1, "name": "helmet"}]}))
    for fmt in ("voc", "coco"):
        record, = parse_dataset(tmp_path / fmt, fmt).records
        assert [p.reason for p in record.problems] == [A.TOO_MANY_OBJECTS] and not record.usable, fmt
        assert record.n_declared_objects == A.MAX_OBJECTS_PER_IMAGE + 1
