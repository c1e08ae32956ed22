import numpy as np
import pytest
import torch
from PIL import Image

from data.datamodule import HelmetDataModule
from data.preprocessing import PreprocessSpec
from data.sources import DataError, load_labelled, load_split, scan_imagefolder, stratified_subset

SPEC = PreprocessSpec(input_size=32)


def _image(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((20, 30, 3), value, np.uint8)).save(path)


def _split_root(root, per_class=3):
    for split in ("train", "val", "test"):
        for label, value in (("helmet", 200), ("no_helmet", 30)):
            for i in range(per_class):
                _image(root / split / label / f"{i}.png", value)
    return root


def test_split_layout_is_used_as_is(tmp_path):
    found = scan_imagefolder(_split_root(tmp_path))
    assert {k: len(v) for k, v in found.items()} == {"train": 6, "val": 6, "test": 6}
    data = load_split(str(tmp_path), "val", SPEC)
    assert data.pixels.shape == (6, 32, 32, 3)
    assert data.class_counts() == {"helmet": 3, "no_helmet": 3}
    assert (data.pixels[data.labels == 0] == 200).all()  # helmet folder -> label 0


def test_flat_layout_is_split_seeded_stratified_and_disjoint(tmp_path):
    for label, value in (("helmet", 200), ("no_helmet", 30)):
        for i in range(20):
            _image(tmp_path / label / f"{i}.png", value)
    first = scan_imagefolder(tmp_path, seed=3)
    assert first == scan_imagefolder(tmp_path, seed=3)
    assert first != scan_imagefolder(tmp_path, seed=4)
    paths = [p for items in first.values() for p, _ in items]
    assert len(paths) == len(set(paths)) == 40
    for split, items in first.items():
        labels = [y for _, y in items]
        assert labels.count(0) == labels.count(1), split


def test_flat_folder_is_evaluated_whole(tmp_path):
    for label, value in (("helmet", 200), ("no_helmet", 30)):
        for i in range(4):
            _image(tmp_path / label / f"{i}.png", value)
    assert len(load_labelled(str(tmp_path), "test", SPEC)) == 8


@pytest.mark.parametrize("make,match", [
    (lambda root: None, "does not exist"),
    (lambda root: root.mkdir(), "not an ImageFolder"),
    (lambda root: (root / "cats").mkdir(parents=True), "not an ImageFolder"),
    (lambda root: _image(root / "train" / "helmet" / "a.png", 1), "lacks"),
])
def test_bad_layouts_get_clear_errors(tmp_path, make, match):
    root = tmp_path / "data"
    make(root)
    with pytest.raises(DataError, match=match):
        scan_imagefolder(root)


def test_unknown_class_folder_is_named(tmp_path):
    _split_root(tmp_path)
    (tmp_path / "train" / "hat").mkdir()
    with pytest.raises(DataError, match="hat"):
        scan_imagefolder(tmp_path)


def test_empty_split_is_reported(tmp_path):
    _split_root(tmp_path)
    for p in (tmp_path / "test").rglob("*.png"):
        p.unlink()
    with pytest.raises(DataError, match="no images found for split 'test'"):
        scan_imagefolder(tmp_path)


def test_corrupt_image_is_a_counted_skip(tmp_path):
    _split_root(tmp_path)
    (tmp_path / "train" / "helmet" / "bad.png").write_bytes(b"\x89PNG broken")
    data = load_split(str(tmp_path), "train", SPEC)
    assert len(data) == 6
    assert len(data.skipped) == 1 and "bad.png" in data.skipped[0][0]


def test_datamodule_yields_float_batches_in_unit_range():
    dm = HelmetDataModule(image_size=48, batch_size=8, synthetic_counts={"train": 16, "val": 8, "test": 8})
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 3, 48, 48) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert set(y.tolist()) <= {0, 1}
    xv, _ = next(iter(dm.val_dataloader()))
    expected = torch.from_numpy(dm.data["val"].pixels[:8]).permute(0, 3, 1, 2).float() / 255
    assert torch.allclose(xv, expected)  # no augmentation outside training


def test_a_train_fraction_keeps_a_seeded_share_of_each_class_and_leaves_val_and_test_whole():
    counts = {"train": 40, "val": 8, "test": 8}
    whole = HelmetDataModule(image_size=32, synthetic_counts=counts)
    half = HelmetDataModule(image_size=32, synthetic_counts=counts, train_fraction=0.5)
    whole.setup(), half.setup()
    per_class = whole.class_counts("train")
    assert half.class_counts("train") == {k: round(v / 2) for k, v in per_class.items()}
    kept = {p.tobytes() for p in half.data["train"].pixels}
    assert kept <= {p.tobytes() for p in whole.data["train"].pixels}
    again = stratified_subset(whole.data["train"], 0.5, seed=0)
    assert np.array_equal(again.pixels, half.data["train"].pixels)
    assert not np.array_equal(stratified_subset(whole.data["train"], 0.5, seed=1).pixels, again.pixels)
    for split in ("val", "test"):
        assert np.array_equal(half.data[split].pixels, whole.data[split].pixels)
    assert min(stratified_subset(whole.data["train"], 0.01).class_counts().values()) == 1


@pytest.mark.parametrize("fraction", [0.0, -0.5, 1.5, float("nan")])
def test_a_train_fraction_outside_0_to_1_is_refused(fraction):
    data = HelmetDataModule(image_size=32, synthetic_counts={"train": 8, "val": 4, "test": 4}, train_fraction=fraction)
    with pytest.raises(ValueError, match="fraction must be in"):
        data.setup()
