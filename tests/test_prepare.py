"""data.prepare: crop geometry, manifest, leak-free stratified split, refusals, atomic output, CLI."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from data import prepare as P
from data.prepare import write as _write  # noqa: F401 (P.write in monkeypatch)
from data import manifest as M
from data.errors import DataError
from data.prepare import crop_geometry, prepare_dataset
from data.prepare.cli import main
from data.splitting import grouped_kfold_split, grouped_stratified_split

REPO = Path(__file__).resolve().parents[1]
REAL_DATASET = Path(__file__).resolve().parents[2] / "shared/data/helmet-kaggle-voc"


# --- fixtures ----------------------------------------------------------------------------------

def head_image(path: Path, size, boxes, color=(255, 0, 0), scene: int | None = None) -> None:
    """Grey image with each (real-pixel) box painted solid ``color``. ``scene`` draws a seeded 4x4 grey
    pattern as the background instead, so that photos differ (else they are near-duplicates)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.new("RGB", size, (128, 128, 128))
    if scene is not None:
        levels = np.random.default_rng(scene).integers(40, 216, (4, 4), dtype=np.uint8)
        im = Image.fromarray(levels).resize(size, Image.NEAREST).convert("RGB")
    d = ImageDraw.Draw(im)
    for x0, y0, x1, y1 in boxes:
        if x1 - 1 >= x0 and y1 - 1 >= y0:  # degenerate test boxes are not painted
            d.rectangle((x0, y0, x1 - 1, y1 - 1), fill=color)
    im.save(path)


def add_voc(root: Path, stem: str, objects, declared=(400, 300), real=(200, 150), filename=None, xml=None,
            scene: int | None = None):
    sx, sy = real[0] / declared[0], real[1] / declared[1]
    head_image(root / "images" / f"{stem}.png", real,
               [(b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy) for _, b in objects], scene=scene)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    objs = "".join(f"<object><name>{n}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax>"
                   f"<ymax>{b[3]}</ymax></bndbox></object>" for n, b in objects)
    text = xml or (f"<annotation><filename>{filename or stem + '.png'}</filename><size><width>{declared[0]}"
                   f"</width><height>{declared[1]}</height></size>{objs}</annotation>")
    (root / "annotations" / f"{stem}.xml").write_text(text)


def many_voc(root: Path, n=20) -> None:
    """n different photos, alternately 1-3 heads, mixed classes: enough groups for a meaningful split."""
    for i in range(n):
        objs = [("With Helmet" if (i + k) % 3 else "Without Helmet", (20 + 60 * k, 20, 60 + 60 * k, 70))
                for k in range(1 + i % 3)]
        add_voc(root, f"img{i:02d}", objs, scene=i)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --- crop geometry -----------------------------------------------------------------------------

def test_crop_geometry_margin_and_clipping():
    crop, head = crop_geometry((50, 30, 100, 60), (200, 150), 0.2)
    assert crop == (40, 24, 110, 66)                    # 10 px = 0.2 * 50 wide, 6 px = 0.2 * 30 high
    assert head == pytest.approx((10, 6, 60, 36))
    crop, head = crop_geometry((0, 5, 20, 150), (200, 150), 0.2)   # touches left and bottom edges
    assert crop == (0, 0, 24, 150)
    assert head == pytest.approx((0, 5, 20, 150))
    crop, head = crop_geometry((10.5, 10.5, 20.5, 20.5), (200, 150), 0.0)  # fractional: snapped outwards
    assert crop == (10, 10, 21, 21) and head == pytest.approx((0.5, 0.5, 10.5, 10.5))

    crop, head = crop_geometry((50, 30, 100, 60), (200, 150), 0.2, shift=(0.2, -0.2))  # window moved right, up
    assert crop == (50, 18, 120, 60) and head == pytest.approx((0, 12, 50, 42))


def test_offset_crops_move_heads_off_centre_keep_the_split_and_stay_whole(tmp_path):
    root = tmp_path / "src"
    many_voc(root, 30)
    centred = read_csv(prepare_dataset(root, tmp_path / "c", "voc", margin=0.6).paths["manifest"])
    shifted = read_csv(prepare_dataset(root, tmp_path / "s", "voc", margin=0.6, offset=0.6).paths["manifest"])
    assert [(r["crop"], r["split"]) for r in shifted] == [(r["crop"], r["split"]) for r in centred]
    off_centre = 0
    for r in shifted:
        x0, y0, x1, y1 = (float(r[f"head_{k}"]) for k in ("x0", "y0", "x1", "y1"))
        w, h = int(r["crop_x1"]) - int(r["crop_x0"]), int(r["crop_y1"]) - int(r["crop_y0"])
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h  # the whole head is in its crop
        off_centre += not (x0 <= w / 2 <= x1 and y0 <= h / 2 <= y1)
    assert off_centre > 0, "no crop has its centre outside the head"
    assert read_csv(prepare_dataset(root, tmp_path / "s2", "voc", margin=0.6, offset=0.6).paths["manifest"]) == shifted
    with pytest.raises(DataError, match="--offset must be between 0 and --margin"):
        prepare_dataset(root, tmp_path / "bad", "voc", margin=0.2, offset=0.5)


# --- VOC / YOLO end to end on tiny fixtures ----------------------------------------------------

def test_voc_happy_path_crops_manifest_and_report(tmp_path):
    root, out = tmp_path / "src", tmp_path / "out"
    add_voc(root, "a", [("With Helmet", (100, 60, 200, 120)), ("Without Helmet", (0, 0, 40, 40))],
            declared=(400, 300), real=(200, 150))
    report = prepare_dataset(root, out, "voc", fractions=(1.0, 0.0, 0.0))
    assert report.counts["train"] == {"helmet": 1, "no_helmet": 1} and report.crops == 2
    assert sorted(p.name for p in out.iterdir()) == ["manifest.csv", "prepare_report.json", "skipped.csv",
                                                     "test", "train", "val"]
    for s in P.SPLITS:  # every split/class dir exists, so ImageFolder classes are always (helmet, no_helmet)
        assert sorted(p.name for p in (out / s).iterdir()) == ["helmet", "no_helmet"]

    rows = read_csv(out / "manifest.csv")
    assert tuple(rows[0].keys()) == M.MANIFEST_COLUMNS
    by_obj = {r["object"]: r for r in rows}
    h = by_obj["0"]
    assert (h["crop"], h["image"], h["class"], h["split"]) == ("train/helmet/src__a_0.png", "images/a.png", "helmet", "train")
    # declared 400x300 -> real 200x150 halves the box: (50, 30, 100, 60); margin 0.2 -> 10 px / 6 px
    assert [float(h[f"box_{k}"]) for k in ("x0", "y0", "x1", "y1")] == [50, 30, 100, 60]
    assert [int(h[f"crop_{k}"]) for k in ("x0", "y0", "x1", "y1")] == [40, 24, 110, 66]
    assert [float(h[f"head_{k}"]) for k in ("x0", "y0", "x1", "y1")] == [10, 6, 60, 36]
    crop = Image.open(out / h["crop"])
    assert crop.size == (70, 42) and crop.format == "PNG"
    assert crop.getpixel((35, 21)) == (255, 0, 0) and crop.getpixel((2, 2)) == (128, 128, 128)
    # the second head touches the image corner: margin clipped to the image
    n = by_obj["1"]
    assert n["crop"] == "train/no_helmet/src__a_1.png"
    assert [int(n[f"crop_{k}"]) for k in ("x0", "y0", "x1", "y1")] == [0, 0, 24, 24]
    assert [float(n[f"head_{k}"]) for k in ("x0", "y0", "x1", "y1")] == [0, 0, 20, 20]

    rep = json.loads((out / "prepare_report.json").read_text())
    assert rep["settings"]["margin"] == 0.2 and rep["settings"]["min_side"] == P.DEFAULT_MIN_SIDE
    assert rep["settings"]["class_index"] == {"helmet": 0, "no_helmet": 1}
    assert rep["counts"] == report.counts and rep["skipped"] == {}
    assert report.warnings == []   # val/test have fraction 0: empty by request, nothing to warn about


def test_fewer_photos_than_splits_is_reported(tmp_path, capsys):
    root, out = tmp_path / "src", tmp_path / "out"
    add_voc(root, "a", [("With Helmet", (10, 10, 90, 90)), ("Without Helmet", (200, 10, 290, 90))])
    add_voc(root, "b", [("With Helmet", (10, 10, 90, 90))])
    report = prepare_dataset(root, out, "voc")
    assert report.warnings and "only 2 source image(s) for 3 split(s)" in report.warnings[0]
    assert sum(1 for n in report.images.values() if n == 0) >= 1
    assert "warning: only 2 source image(s)" in report.summary()
    assert json.loads((out / "prepare_report.json").read_text())["warnings"] == report.warnings


def test_yolo_happy_path(tmp_path):
    root, out = tmp_path / "src", tmp_path / "out"
    (root / "labels/train").mkdir(parents=True)
    (root / "data.yaml").write_text("names: [helmet, head, person]\n")
    head_image(root / "images/train/p.jpg", (200, 100), [(80, 30, 120, 70)])
    (root / "labels/train/p.txt").write_text("0 0.5 0.5 0.2 0.4\n1 0.05 0.1 0.1 0.2\n2 0.5 0.5 0.9 0.9\n")
    report = prepare_dataset(root, out, "yolo", min_side=0, fractions=(1, 0, 0))
    rows = read_csv(out / "manifest.csv")
    assert [(r["crop"], r["class"], r["source_class"]) for r in rows] == [
        ("train/helmet/src__p_0.png", "helmet", "helmet"), ("train/no_helmet/src__p_1.png", "no_helmet", "head")]
    assert [float(rows[0][f"box_{k}"]) for k in ("x0", "y0", "x1", "y1")] == [80, 30, 120, 70]
    assert [int(rows[0][f"crop_{k}"]) for k in ("x0", "y0", "x1", "y1")] == [72, 22, 128, 78]
    assert report.skipped == {"unknown class 'person'": 1}
    skipped = read_csv(out / "skipped.csv")
    assert [(s["image"], s["object"], s["reason"]) for s in skipped] == [
        ("images/train/p.jpg", "2", "unknown class 'person'")]


def test_too_small_boxes_are_dropped_and_counted(tmp_path):
    root, out = tmp_path / "src", tmp_path / "out"
    add_voc(root, "a", [("helmet", (0, 0, 100, 100)), ("helmet", (200, 0, 215, 200))],
            declared=(400, 300), real=(200, 150))   # second: 7.5 px wide in the real image
    report = prepare_dataset(root, out, "voc", min_side=8, fractions=(1, 0, 0))
    assert report.crops == 1 and report.skipped == {"too small": 1}
    assert "7.5 px" in read_csv(out / "skipped.csv")[0]["detail"]
    report = prepare_dataset(root, out, "voc", min_side=7, fractions=(1, 0, 0), force=True)
    assert report.crops == 2 and report.skipped == {}


def test_bad_inputs_become_counted_skips(tmp_path):
    root, out = tmp_path / "src", tmp_path / "out"
    add_voc(root, "good", [("With Helmet", (20, 20, 120, 120)), ("Without Helmet", (200, 20, 300, 120)),
                           ("Dog", (20, 150, 120, 250)), ("helmet", (300, 200, 420, 280)),
                           ("helmet", (50, 50, 50, 90))])
    add_voc(root, "malformed", [], xml="<annotation><filename>")
    add_voc(root, "escape", [("helmet", (1, 1, 90, 90))], filename="../../etc/passwd")
    add_voc(root, "absolute", [("helmet", (1, 1, 90, 90))], filename="/etc/passwd")
    add_voc(root, "gone", [("helmet", (1, 1, 90, 90))], filename="does_not_exist.png")
    add_voc(root, "corrupt", [("helmet", (1, 1, 90, 90))])
    (root / "images/corrupt.png").write_bytes(b"not a png at all")
    add_voc(root, "empty", [])
    report = prepare_dataset(root, out, "voc")
    assert report.skipped == {
        "box outside image": 1, "corrupt image": 1, "degenerate box": 1, "image missing": 1,
        "malformed annotation": 1, "no objects": 1, "path escapes dataset root": 2, "unknown class 'Dog'": 1,
        "no annotation file": 1}  # images/gone.png: gone.xml names another file, so nothing annotates it
    assert report.crops == 2
    skipped = read_csv(out / "skipped.csv")
    assert tuple(skipped[0].keys()) == M.SKIPPED_COLUMNS
    assert len(skipped) == sum(report.skipped.values())
    reasons = {(s["annotation"], s["reason"]) for s in skipped}
    assert ("annotations/escape.xml", "path escapes dataset root") in reasons
    assert ("annotations/absolute.xml", "path escapes dataset root") in reasons
    assert not any("passwd" in r["crop"] for r in read_csv(out / "manifest.csv"))


# --- split: leak-free, stratified, deterministic ------------------------------------------------

def synthetic_groups(n_groups=300, seed=1):
    import random
    r = random.Random(seed)
    groups, labels = [], []
    for g in range(n_groups):
        for _ in range(r.choice([1, 1, 1, 2, 2, 3, 5, 8])):
            groups.append(f"photo{g}")
            labels.append("helmet" if r.random() < 0.65 else "no_helmet")
    return groups, labels


def test_split_keeps_groups_together_and_stratifies():
    groups, labels = synthetic_groups()
    res = grouped_stratified_split(groups, labels, (0.7, 0.1, 0.2), seed=0)
    where = defaultdict(set)
    for g, s in zip(groups, res.assignment):
        where[g].add(s)
    assert all(len(v) == 1 for v in where.values())
    total = Counter(labels)
    overall = total["helmet"] / len(labels)
    for s, (c, f) in enumerate(zip(res.counts(labels), (0.7, 0.1, 0.2))):
        n = sum(c.values())
        assert abs(n / len(labels) - f) < 0.01, (s, n)
        assert abs(c["helmet"] / n - overall) < 0.02, (s, c)
    assert res.warnings == []


def test_split_is_deterministic_by_seed():
    groups, labels = synthetic_groups()
    a = grouped_stratified_split(groups, labels, seed=0).assignment
    assert grouped_stratified_split(groups, labels, seed=0).assignment == a
    assert any(grouped_stratified_split(groups, labels, seed=s).assignment != a for s in (1, 2, 3))


def test_split_tiny_inputs():
    res = grouped_stratified_split(["a", "b", "c"], ["helmet", "helmet", "no_helmet"], (0.7, 0.1, 0.2),
                                   split_names=("train", "val", "test"))
    assert sorted(res.assignment) == [0, 1, 2]              # enough groups: no split left empty
    res = grouped_stratified_split(["a", "a", "b"], ["helmet", "no_helmet", "helmet"], (0.7, 0.1, 0.2),
                                   split_names=("train", "val", "test"))
    assert res.assignment[0] == res.assignment[1]
    assert any("only 2 group(s) for 3 split(s)" in w for w in res.warnings)
    res = grouped_stratified_split(["a"] * 4, ["helmet"] * 4, (0.7, 0.1, 0.2))
    assert set(res.assignment) == {0}
    res = grouped_stratified_split([1, 2, 3, 4], ["x"] * 4, (0.5, 0.0, 0.5))
    assert 1 not in res.assignment and sorted(Counter(res.assignment).values()) == [2, 2]
    with pytest.raises(ValueError, match="sum to 1"):
        grouped_stratified_split([1], ["x"], (0.5, 0.2, 0.2))


def test_prepare_split_has_no_photo_in_two_splits_and_is_reproducible(tmp_path):
    root = tmp_path / "src"
    many_voc(root, 30)
    prepare_dataset(root, tmp_path / "o1", "voc", seed=0)
    prepare_dataset(root, tmp_path / "o2", "voc", seed=0)
    rows = read_csv(tmp_path / "o1/manifest.csv")
    assert rows == read_csv(tmp_path / "o2/manifest.csv")
    splits_of = defaultdict(set)
    for r in rows:
        splits_of[r["image"]].add(r["split"])
        assert r["crop"].startswith(f"{r['split']}/{r['class']}/")
        assert (tmp_path / "o1" / r["crop"]).is_file()
    assert all(len(s) == 1 for s in splits_of.values())
    assert {r["split"] for r in rows} == set(P.SPLITS)
    others = [read_csv(prepare_dataset(root, tmp_path / f"s{s}", "voc", seed=s).paths["manifest"]) for s in (1, 2, 3)]
    assert any([r["split"] for r in o] != [r["split"] for r in rows] for o in others)


def test_kfold_test_folds_are_disjoint_cover_every_item_and_keep_groups_together():
    groups, labels = synthetic_groups()
    tests = []
    for fold in range(5):
        res = grouped_kfold_split(groups, labels, 5, fold, seed=0)
        where = defaultdict(set)
        for g, s in zip(groups, res.assignment):
            where[g].add(s)
        assert all(len(v) == 1 for v in where.values())
        counts = res.counts(labels)
        for s, f in enumerate((0.7, 0.1, 0.2)):
            assert abs(sum(counts[s].values()) / len(labels) - f) < 0.015, (fold, s, counts[s])
        assert res.fractions == pytest.approx((0.7, 0.1, 0.2))
        tests.append({i for i, s in enumerate(res.assignment) if s == 2})
    assert set().union(*tests) == set(range(len(groups)))
    assert sum(len(t) for t in tests) == len(groups)
    for bad in (dict(folds=1, fold=0), dict(folds=5, fold=5), dict(folds=5, fold=-1), dict(folds=2.0, fold=0)):
        with pytest.raises(ValueError, match="folds must|fold must"):
            grouped_kfold_split(groups, labels, **bad)


def test_prepare_folds_make_every_crop_a_test_crop_once(tmp_path, capsys):
    root = tmp_path / "src"
    many_voc(root, 30)
    test_crops = []
    for fold in range(3):
        report = prepare_dataset(root, tmp_path / f"f{fold}", "voc", seed=0, folds=3, fold=fold)
        assert report.settings["folds"] == 3 and report.settings["fold"] == fold
        rows = read_csv(tmp_path / f"f{fold}/manifest.csv")
        assert len({r["image"] for r in rows if r["split"] == "test"} &
                   {r["image"] for r in rows if r["split"] != "test"}) == 0
        test_crops.append({(r["image"], r["object"]) for r in rows if r["split"] == "test"})
    every = {(r["image"], r["object"]) for r in rows}
    assert set().union(*test_crops) == every and sum(map(len, test_crops)) == len(every)
    for args, msg in ((["--folds", "1"], "--folds must"), (["--folds", "3", "--fold", "3"], "--fold must be between"),
                      (["--fold", "1"], "--fold needs --folds")):
        assert main(["--format", "voc", "--root", str(root), "--out", str(tmp_path / "bad"), *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and msg in err, err


def test_copies_of_a_photo_share_a_split_and_conflicting_labels_are_counted(tmp_path, capsys):
    root = tmp_path / "src"
    many_voc(root, 24)
    heads = [("With Helmet", (20, 20, 60, 70))]
    for copy, of, label in (("copy_a", 0, "With Helmet"), ("copy_b", 0, "Without Helmet"), ("copy_c", 7, "With Helmet")):
        add_voc(root, copy, [(label, heads[0][1])], scene=of)     # same picture, another file
    add_voc(root, "img00", heads, scene=0)
    add_voc(root, "img07", heads, scene=7)
    for seed in range(4):
        report = prepare_dataset(root, tmp_path / f"s{seed}", "voc", seed=seed)
        rows = {Path(r["image"]).stem: r for r in read_csv(report.paths["manifest"])}
        assert rows["copy_a"]["split"] == rows["copy_b"]["split"] == rows["img00"]["split"]
        assert rows["copy_c"]["split"] == rows["img07"]["split"]
        assert rows["copy_a"]["photo_group"] == rows["img00"]["photo_group"] != rows["img07"]["photo_group"]
        assert rows["img01"]["photo_group"] == "src:" + rows["img01"]["image"]
    assert report.duplicates == {"groups": 2, "photos": 5, "conflicting_heads": 1, "across_datasets": 0}
    assert report.settings["duplicate_distance"] == 8
    assert "near-duplicate photos: 5 in 2 groups" in report.summary()

    leaky = [prepare_dataset(root, tmp_path / f"off{seed}", "voc", seed=seed, duplicate_distance=None)
             for seed in range(4)]
    apart = leaky[0]
    assert apart.duplicates["groups"] == 0
    assert any(any("have a near-duplicate in train (--duplicate-distance off)" in w for w in r.warnings) for r in leaky)
    assert all(r["photo_group"] == "src:" + r["image"] for r in read_csv(apart.paths["manifest"]))
    assert main(["--format", "voc", "--root", str(root), "--out", str(tmp_path / "bad"), "--duplicate-distance", "64"]) == 2
    assert "--duplicate-distance must be an integer between 0 and 63" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["--format", "voc", "--root", str(root), "--out", str(tmp_path / "bad"), "--duplicate-distance", "some"])
    assert exit_info.value.code == 2 and "expected a number of bits or 'off'" in capsys.readouterr().err


# --- refusals and atomic output -----------------------------------------------------------------

def test_missing_or_empty_root_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        prepare_dataset(tmp_path / "nope", tmp_path / "out", "voc")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="is empty"):
        prepare_dataset(tmp_path / "empty", tmp_path / "out", "voc")
    (tmp_path / "noann/images").mkdir(parents=True)
    with pytest.raises(DataError, match="annotations directory not found"):
        prepare_dataset(tmp_path / "noann", tmp_path / "out", "voc")
    assert not (tmp_path / "out").exists()


def test_no_usable_crops_is_an_error_that_names_the_reasons(tmp_path):
    root = tmp_path / "src"
    add_voc(root, "a", [("Dog", (10, 10, 90, 90))])
    with pytest.raises(DataError, match="no usable crops.*unknown class 'Dog'"):
        prepare_dataset(root, tmp_path / "out", "voc")


def test_existing_output_needs_force_and_force_only_replaces_our_own_output(tmp_path):
    root, out = tmp_path / "src", tmp_path / "out"
    many_voc(root, 6)
    out.mkdir()
    prepare_dataset(root, out, "voc")                     # an existing EMPTY dir is fine
    with pytest.raises(DataError, match="not empty.*--force"):
        prepare_dataset(root, out, "voc")
    (out / "marker").write_text("old")
    prepare_dataset(root, out, "voc", force=True)
    assert not (out / "marker").exists() and (out / "manifest.csv").is_file()

    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("x")
    with pytest.raises(DataError, match="not written by data.prepare"):
        prepare_dataset(root, foreign, "voc", force=True)
    assert (foreign / "precious.txt").read_text() == "x"
    for bad in (root / "crops", root, tmp_path):
        with pytest.raises(DataError, match="outside the dataset root"):
            prepare_dataset(root, bad, "voc", force=True)


def test_a_crash_leaves_no_half_written_output(tmp_path, monkeypatch):
    root, out = tmp_path / "src", tmp_path / "out"
    many_voc(root, 6)

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(P.write.csv, "DictWriter", boom)      # dies after all crops were written
    with pytest.raises(RuntimeError):
        prepare_dataset(root, out, "voc")
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]   # temp dir cleaned up
    monkeypatch.undo()

    prepare_dataset(root, out, "voc")
    before = read_csv(out / "manifest.csv")
    monkeypatch.setattr(P.write.csv, "DictWriter", boom)
    with pytest.raises(RuntimeError):
        prepare_dataset(root, out, "voc", force=True, seed=5)
    assert read_csv(out / "manifest.csv") == before     # previous output untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]


# --- CLI ---------------------------------------------------------------------------------------

def test_cli_exit_codes_and_summary(tmp_path, capsys):
    root, out = tmp_path / "src", tmp_path / "out"
    many_voc(root, 10)
    assert main(["--format", "voc", "--root", str(root), "--out", str(out), "--class-map", "Without Helmet=no_helmet",
                 "--split", "0.6,0.2,0.2", "--seed", "3", "--margin", "0.1", "--min-side", "4"]) == 0
    stdout = capsys.readouterr().out
    assert "prepared" in stdout and "train" in stdout and "no_helmet" in stdout
    rep = json.loads((out / "prepare_report.json").read_text())
    assert rep["settings"]["fractions"] == {"train": 0.6, "val": 0.2, "test": 0.2}
    assert rep["settings"]["seed"] == 3 and rep["settings"]["margin"] == 0.1

    cases = [
        (["--root", str(root), "--out", str(out)], "already exists|not empty"),
        (["--root", str(tmp_path / "missing"), "--out", str(tmp_path / "o2")], "does not exist"),
        (["--root", str(root), "--out", str(tmp_path / "o3"), "--class-map", "x=hat"], "label must be one of"),
        (["--root", str(root), "--out", str(tmp_path / "o4"), "--split", "0.5,0.5,0.5"], "sum to 1"),
        (["--root", str(root), "--out", str(tmp_path / "o5"), "--names", "a,b"], "only apply to YOLO"),
        (["--root", str(root), "--out", str(tmp_path / "o6"), "--margin", "-1"], "--margin"),
    ]
    for args, msg in cases:
        assert main(["--format", "voc", *args]) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "Traceback" not in err
        assert any(m in err for m in msg.split("|")), err


def test_cli_as_module_subprocess(tmp_path):
    result = subprocess.run([sys.executable, "-m", "data.prepare", "--format", "voc", "--root", str(tmp_path / "x"),
                             "--out", str(tmp_path / "o")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "dataset root does not exist" in result.stderr and "Traceback" not in result.stderr


# --- the real dataset --------------------------------------------------------------------------

@pytest.mark.skipif(not (REAL_DATASET / "annotations").is_dir(),
                    reason=f"real dataset not found at {REAL_DATASET} (it lives outside the repo, in ../shared)")
def test_real_helmet_dataset_end_to_end(tmp_path):
    out = tmp_path / "crops"
    report = prepare_dataset(REAL_DATASET, out, "voc")
    rows = read_csv(out / "manifest.csv")
    # Verified by hand against the XMLs: 1115 objects (721 With Helmet, 394 Without Helmet); 13 boxes
    # lie far outside their declared image (coordinates like 149282); 33 of the remaining 1102 have a
    # short side under 8 px once scaled to the real 224x224 images; 3 annotations list no objects.
    assert report.objects_seen == 1115
    assert report.skipped == {"box outside image": 13, "too small": 33, "no objects": 3}
    assert report.crops == len(rows) == 1115 - 13 - 33
    skipped = read_csv(out / "skipped.csv")
    assert sorted(s["image"] for s in skipped if s["reason"] == "no objects") == [
        "images/BikesHelmets35.png", "images/BikesHelmets459.png", "images/BikesHelmets735.png"]

    splits_of = defaultdict(set)
    for r in rows:
        splits_of[r["image"]].add(r["split"])
    assert all(len(s) == 1 for s in splits_of.values()), "a source photo is in two splits"
    overall = sum(r["class"] == "helmet" for r in rows) / len(rows)
    for s, fraction in zip(P.SPLITS, (0.7, 0.1, 0.2)):
        counts = report.counts[s]
        n = sum(counts.values())
        assert counts["helmet"] > 0 and counts["no_helmet"] > 0, s
        assert abs(n / len(rows) - fraction) < 0.02, (s, n)
        assert abs(counts["helmet"] / n - overall) < 0.03, (s, counts)
    for r in rows[:50]:   # geometry is consistent with the files written
        w, h = Image.open(out / r["crop"]).size
        assert (w, h) == (int(r["crop_x1"]) - int(r["crop_x0"]), int(r["crop_y1"]) - int(r["crop_y0"]))
        assert 0 <= float(r["head_x0"]) < float(r["head_x1"]) <= w and 0 <= float(r["head_y0"]) < float(r["head_y1"]) <= h
        assert r["image_width"] == r["image_height"] == "224"
