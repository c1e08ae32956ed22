"""Parity per dataset: images from a prepared set whose manifest names each crop's dataset get accuracy and
balanced accuracy per dataset for every runtime, and per_image carries the dataset."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from conftest import TINY_SIZE
from data.manifest import MANIFEST_COLUMNS, MANIFEST_NAME
from data.preprocessing import LABELS
from data.synthetic import generate
from export.layout import PARITY_ROWS
from export.parity import parity_for_directory

pytestmark = pytest.mark.slow  # needs the tiny export
# dataset -> (test images, label indices it holds): "riders" has helmets only, so its balanced accuracy is its
# helmet recall, not halved by a class it does not have
TEST_IMAGES = {"hardhats": (12, (0, 1)), "riders": (6, (0,))}


def _crop_row(relative: str, dataset: str, label: str, split: str) -> dict:
    row = dict.fromkeys(MANIFEST_COLUMNS, "")
    row.update(crop=relative, dataset=dataset, image=relative, split=split, photo_group=f"{dataset}:{relative}",
               training_only="0", **{"class": label})
    row.update({f"crop_{k}": v for k, v in zip(("x0", "y0", "x1", "y1"), (0, 0, TINY_SIZE, TINY_SIZE))})
    row.update({f"head_{k}": v for k, v in zip(("x0", "y0", "x1", "y1"), (24, 8, 72, 56))})
    return row


def _write_prepared_set(root, seed: int = 5) -> None:
    """A prepared set as data.prepare lays it out: {split}/{class}/{dataset}__{stem}_0.png and manifest.csv."""
    images, labels = generate(200, seed=seed, size=TINY_SIZE)
    pool = {label: iter(np.flatnonzero(labels == label)) for label in (0, 1)}
    wanted = {("test", name): (n, classes) for name, (n, classes) in TEST_IMAGES.items()}
    wanted.update({(split, "hardhats"): (2, (0, 1)) for split in ("train", "val")})
    rows = []
    for (split, dataset), (n, classes) in wanted.items():
        for k in range(n):
            index = next(pool[classes[k % len(classes)]])
            label = LABELS[labels[index]]
            relative = f"{split}/{label}/{dataset}__photo{index}_0.png"
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[index]).save(root / relative)
            rows.append(_crop_row(relative, dataset, label, split))
    with (root / MANIFEST_NAME).open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def report(tiny_export, tmp_path_factory):
    root = tmp_path_factory.mktemp("prepared")
    _write_prepared_set(root)
    return parity_for_directory(tiny_export.out, data=str(root), split="test")


def test_per_image_carries_each_crops_dataset(report):
    per_image = report["per_image"]
    assert report["images"] == sum(n for n, _ in TEST_IMAGES.values())
    assert len(per_image["datasets"]) == len(per_image["paths"]) == report["images"]
    for path, dataset in zip(per_image["paths"], per_image["datasets"]):
        assert path.rsplit("/", 1)[1].startswith(f"{dataset}__")


def test_per_dataset_block_covers_every_runtime(report):
    assert set(report["per_dataset"]) == set(TEST_IMAGES)
    for name, (n, classes) in TEST_IMAGES.items():
        block = report["per_dataset"][name]
        assert block["images"] == n and list(block["artifacts"]) == list(PARITY_ROWS)
        assert sum(block["class_counts"].values()) == n
        assert {LABELS[c] for c in classes} == {label for label, count in block["class_counts"].items() if count}


def test_per_dataset_figures_follow_from_the_per_image_predictions(report):
    per_image = report["per_image"]
    datasets, labels = np.array(per_image["datasets"]), np.array(per_image["labels"])
    for row, predicted in per_image["predicted"].items():
        predicted = np.array(predicted)
        for name, block in report["per_dataset"].items():
            mine = datasets == name
            recalls = [np.mean(predicted[mine & (labels == c)] == c) for c in np.unique(labels[mine])]
            assert block["artifacts"][row]["accuracy"] == pytest.approx(np.mean(predicted[mine] == labels[mine]))
            assert block["artifacts"][row]["balanced_accuracy"] == pytest.approx(np.mean(recalls))
        overall = sum(b["images"] * b["artifacts"][row]["accuracy"] for b in report["per_dataset"].values())
        assert overall / report["images"] == pytest.approx(report["artifacts"][row]["accuracy"])


def test_a_one_class_dataset_is_not_scored_on_the_class_it_lacks(report):
    riders = report["per_dataset"]["riders"]["artifacts"]
    for row, figures in riders.items():
        assert figures["balanced_accuracy"] == pytest.approx(figures["accuracy"]), row
