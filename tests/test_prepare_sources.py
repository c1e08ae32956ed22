"""Several datasets in one prepared set: names, training-only datasets, copies across datasets, class maps."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

from data.errors import DataError
from data.prepare import Dataset, prepare
from data.prepare.cli import main
from test_prepare import add_voc, many_voc, read_csv


def yolo_dataset(root, photos: dict[str, tuple[int, list[tuple[int, tuple]]]]):
    """A Roboflow-style YOLO export; ``photos``: stem -> (scene, [(class id, normalised cx, cy, w, h)])."""
    from test_prepare import head_image

    for stem, (scene, boxes) in photos.items():
        w, h = 200, 150
        pixel_boxes = [((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)
                       for _, (cx, cy, bw, bh) in boxes]
        head_image(root / "train" / "images" / f"{stem}.png", (w, h), pixel_boxes, scene=scene)
        (root / "train" / "labels").mkdir(parents=True, exist_ok=True)
        (root / "train" / "labels" / f"{stem}.txt").write_text(
            "".join(f"{c} {cx} {cy} {bw} {bh}\n" for c, (cx, cy, bw, bh) in boxes))
    (root / "data.yaml").write_text("train: ../train/images\nval: ../train/images\nnames: ['hardhat', 'head']\n")
    return root


def hard_hats(root, n=8, first_scene=100):
    return yolo_dataset(root, {f"site{i}": (first_scene + i, [(i % 2, (0.3, 0.4, 0.2, 0.3)), (0, (0.7, 0.5, 0.2, 0.3))])
                               for i in range(n)})


def test_training_only_dataset_never_reaches_val_or_test_and_leaves_the_folds_alone(tmp_path):
    many_voc(tmp_path / "riders", 24)
    hard_hats(tmp_path / "hardhat")
    alone = prepare([Dataset("voc", tmp_path / "riders", "riders")], tmp_path / "alone", folds=4, fold=1)
    mixed = prepare([Dataset("voc", tmp_path / "riders", "riders"),
                     Dataset("yolo", tmp_path / "hardhat", "hardhat", training_only=True)], tmp_path / "mixed", folds=4, fold=1)
    riders_alone = {(r["image"], r["object"]): (r["split"], r["crop"]) for r in read_csv(tmp_path / "alone/manifest.csv")}
    rows = read_csv(tmp_path / "mixed/manifest.csv")
    riders_mixed = {(r["image"], r["object"]): (r["split"], r["crop"]) for r in rows if r["dataset"] == "riders"}
    assert riders_mixed == riders_alone  # same crops, same names, same folds: comparisons stay paired
    hardhat = [r for r in rows if r["dataset"] == "hardhat"]
    assert len(hardhat) == 16 and {r["split"] for r in hardhat} == {"train"} and {r["training_only"] for r in hardhat} == {"1"}
    assert Counter(r["class"] for r in hardhat) == {"helmet": 12, "no_helmet": 4}  # hardhat/head normalised
    assert mixed.by_dataset["hardhat"]["crops"]["test"] == {"helmet": 0, "no_helmet": 0}
    assert mixed.counts["train"]["helmet"] == alone.counts["train"]["helmet"] + 12
    assert "hardhat (training only)" in mixed.summary()


def test_the_same_photo_in_two_datasets_is_grouped_not_leaked(tmp_path):
    many_voc(tmp_path / "a", 12)
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # every photo of b is a copy of a photo of a
    report = prepare([Dataset("voc", tmp_path / "a", "a"), Dataset("voc", tmp_path / "b", "b")], tmp_path / "out")
    rows = read_csv(tmp_path / "out/manifest.csv")
    split_of = {}
    for r in rows:
        split_of.setdefault(r["photo_group"], set()).add(r["split"])
    assert all(len(splits) == 1 for splits in split_of.values())
    assert report.duplicates["across_datasets"] == 12
    # as training-only, a copy of a val/test photo is dropped and counted, a copy of a train photo trains
    report = prepare([Dataset("voc", tmp_path / "a", "a"), Dataset("voc", tmp_path / "b", "b", training_only=True)],
                     tmp_path / "out2")
    rows = read_csv(tmp_path / "out2/manifest.csv")
    held_out = {r["image"] for r in rows if r["dataset"] == "a" and r["split"] != "train"}
    assert held_out and not any(r["dataset"] == "b" and r["image"] in held_out for r in rows)
    dropped = [r for r in read_csv(tmp_path / "out2/skipped.csv") if r["dataset"] == "b"]
    assert dropped and {r["reason"] for r in dropped} == {"near-duplicate of a val/test photo"}
    assert {r["image"] for r in dropped} == held_out


def test_clashing_class_maps_are_refused(tmp_path):
    many_voc(tmp_path / "a", 6)
    many_voc(tmp_path / "b", 6)
    with pytest.raises(DataError, match="means 'no_helmet' in dataset b but 'helmet' in dataset a"):
        prepare([Dataset("voc", tmp_path / "a", "a"),
                 Dataset("voc", tmp_path / "b", "b", class_map={"With Helmet": "no_helmet"})], tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("datasets,match", [
    (lambda t: [Dataset("voc", t / "a", "x"), Dataset("voc", t / "b", "x")], "two datasets are named 'x'"),
    (lambda t: [Dataset("voc", t / "a", "a", training_only=True)], "every dataset is training-only"),
    (lambda t: [Dataset("voc", t / "a", "a", class_map={"With Helmet": "maybe"})], "label must be one of"),
])
def test_bad_dataset_lists_are_refused(tmp_path, datasets, match):
    many_voc(tmp_path / "a", 4)
    many_voc(tmp_path / "b", 4)
    with pytest.raises(DataError, match=match):
        prepare(datasets(tmp_path), tmp_path / "out")


def test_the_command_line_and_the_sources_file_prepare_the_same_set(tmp_path, capsys):
    many_voc(tmp_path / "riders", 10)
    hard_hats(tmp_path / "hardhat", 4)
    assert main(["--source", f"riders=voc:{tmp_path / 'riders'}", "--source", f"yolo:{tmp_path / 'hardhat'}",
                 "--training-only", "hardhat", "--out", str(tmp_path / "cli")]) == 0
    (tmp_path / "sources.yaml").write_text("sources:\n  - {name: riders, format: voc, root: riders}\n"
                                           "  - {format: yolo, root: hardhat, training_only: true}\n")
    assert main(["--sources", str(tmp_path / "sources.yaml"), "--out", str(tmp_path / "file")]) == 0
    strip = lambda rows: [{k: v for k, v in r.items()} for r in rows]  # noqa: E731
    assert strip(read_csv(tmp_path / "cli/manifest.csv")) == strip(read_csv(tmp_path / "file/manifest.csv"))
    report = json.loads((tmp_path / "file/prepare_report.json").read_text())
    assert [d["name"] for d in report["datasets"]] == ["riders", "hardhat"]
    assert main(["--source", f"voc:{tmp_path / 'riders'}", "--training-only", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "no --source has that name" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("sources: {format: voc}\n")
    assert main(["--sources", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "y")]) == 2
    assert "needs a non-empty 'sources:' list" in capsys.readouterr().err
