"""The built-in procedural dataset: interface, determinism, diversity, non-triviality, on-disk layout, CLI."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from data import synthetic
from data.images import image_files
from data.preprocessing import LABELS, PreprocessSpec
from data.synthetic import HELMET_KINDS, NO_HELMET_KINDS, generate, label_of, render, write_imagefolder

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def batch():
    return generate(64, seed=0, size=128, return_boxes=True)


# --- shapes, labels, boxes ------------------------------------------------------------------
def test_shapes_dtypes_and_ranges(batch):
    images, labels, boxes = batch
    assert images.shape == (64, 128, 128, 3) and images.dtype == np.uint8
    assert labels.shape == (64,) and labels.dtype == np.int64
    assert boxes.shape == (64, 4) and boxes.dtype == np.float32
    assert images.min() < 40 and images.max() > 215  # uses the range, not a washed-out band
    two = generate(2, seed=0)
    assert len(two) == 2 and two[0].shape == (2, 128, 128, 3)


def test_labels_binary_and_balanced(batch):
    _, labels, _ = batch
    assert set(labels.tolist()) == {0, 1}
    assert abs(int((labels == 0).sum()) - int((labels == 1).sum())) <= 2
    assert LABELS[0] == "helmet" and labels[0] == 0 == label_of(0) and label_of(1) == 1
    _, odd = generate(5, seed=0, size=48, start=7)
    assert odd.tolist() == [1, 0, 1, 0, 1]


def test_boxes_inside_image_and_non_degenerate(batch):
    _, _, boxes = batch
    x0, y0, x1, y1 = boxes.T
    assert np.all((x0 >= 0) & (y0 >= 0) & (x1 <= 128) & (y1 <= 128))
    assert np.all(x1 - x0 >= 6) and np.all(y1 - y0 >= 6)
    area = (x1 - x0) * (y1 - y0) / 128**2
    assert np.all(area < 0.8) and np.median(area) > 0.03


def test_boxes_scale_with_the_image_size():
    """Geometry is drawn in relative units: the same index at two sizes has the same relative box."""
    _, _, b64 = generate(6, seed=4, size=64, return_boxes=True)
    _, _, b128 = generate(6, seed=4, size=128, return_boxes=True)
    assert np.allclose(b64 / 64, b128 / 128, atol=0.03)


def test_other_sizes_and_empty():
    for size in (32, 96, 200):
        images, labels, boxes = generate(3, seed=1, size=size, return_boxes=True)
        assert images.shape == (3, size, size, 3)
        assert np.all(boxes >= 0) and np.all(boxes <= size)
    images, labels, boxes = generate(0, seed=1, return_boxes=True)
    assert images.shape == (0, 128, 128, 3) and labels.shape == (0,) and boxes.shape == (0, 4)


@pytest.mark.parametrize("label,kind", [(0, k) for k in HELMET_KINDS] + [(1, k) for k in NO_HELMET_KINDS])
def test_every_headwear_kind_renders(label, kind):
    for i in range(3):
        img, box, got = render(np.random.default_rng([9, i]), label, 64, kind=kind)
        assert got == kind and img.shape == (64, 64, 3) and img.dtype == np.uint8
        assert box[2] - box[0] > 3 and box[3] - box[1] > 3


def test_many_random_draws_do_not_crash():
    images, labels, boxes = generate(300, seed=123, size=32, return_boxes=True)
    assert images.shape == (300, 32, 32, 3) and np.all(boxes[:, 2:] > boxes[:, :2])


# --- determinism --------------------------------------------------------------------------
def test_deterministic_and_prefix_property():
    a = generate(10, seed=5, size=64, return_boxes=True)
    b = generate(10, seed=5, size=64, return_boxes=True)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    for k in (0, 3, 9):
        one = generate(1, seed=5, size=64, start=k, return_boxes=True)
        for x, y in zip(a, one):
            np.testing.assert_array_equal(x[k], y[0])
    tail = generate(4, seed=5, size=64, start=6)
    np.testing.assert_array_equal(tail[0], a[0][6:10])


def test_different_seeds_give_different_images():
    a, _ = generate(6, seed=0, size=64)
    b, _ = generate(6, seed=1, size=64)
    for i in range(6):
        assert np.abs(a[i].astype(int) - b[i].astype(int)).mean() > 10


# --- diversity ----------------------------------------------------------------------------
def test_images_are_diverse(batch):
    images = batch[0].astype(np.int16)
    for i, j in itertools.combinations(range(len(images)), 2):
        assert np.abs(images[i] - images[j]).mean() > 8, (i, j)
    assert images.reshape(len(images), -1).std(1).min() > 12
    # the per-image mean colour varies a lot too (backgrounds, lighting)
    assert images.mean((1, 2)).std(0).min() > 12


# --- the class cue is not a global statistic ------------------------------------------------
def _small_pixels(x: np.ndarray) -> np.ndarray:
    n, s = len(x), x.shape[1]
    return x.reshape(n, 8, s // 8, 8, s // 8, 3).mean((2, 4)).reshape(n, -1) / 255.0


def _colour_hist(x: np.ndarray, bins: int = 4) -> np.ndarray:
    q = (x // (256 // bins)).astype(np.int64)
    idx = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]
    return np.stack([np.bincount(i.ravel(), minlength=bins**3) for i in idx]) / float(x.shape[1] * x.shape[2])


def _logistic(xtr, ytr, xte, l2=1e-2, steps=400, lr=0.5):
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    a, b = (xtr - mu) / sd, (xte - mu) / sd
    w, c = np.zeros(a.shape[1]), 0.0
    for _ in range(steps):
        g = 1.0 / (1.0 + np.exp(-(a @ w + c))) - ytr
        w -= lr * (a.T @ g / len(a) + l2 * w)
        c -= lr * g.mean()
    return (b @ w + c > 0).astype(np.int64)


def _nearest_centroid(xtr, ytr, xte):
    c0, c1 = xtr[ytr == 0].mean(0), xtr[ytr == 1].mean(0)
    return (((xte - c1) ** 2).sum(1) < ((xte - c0) ** 2).sum(1)).astype(np.int64)


@pytest.fixture(scope="module")
def features():
    images, labels = generate(800, seed=11, size=128)
    return {"pixels8x8": _small_pixels(images), "colour_hist": _colour_hist(images)}, labels


def test_classifiers_work_when_there_is_a_cue(features):
    """Control: the same classifiers do find a real (leaked) cue, so the bound below is not vacuous."""
    feats, y = features
    leaky = np.concatenate([feats["colour_hist"], (y[:, None] + np.random.default_rng(0).normal(0, 0.3, (len(y), 1)))],
                           1)
    for clf in (_logistic, _nearest_centroid):
        if clf is _nearest_centroid:
            leaky_n = leaky.copy()
            leaky_n[:, -1] *= 10
        else:
            leaky_n = leaky
        acc = (clf(leaky_n[:600], y[:600], leaky_n[600:]) == y[600:]).mean()
        assert acc > 0.9, (clf.__name__, acc)


@pytest.mark.parametrize("clf", [_logistic, _nearest_centroid])
@pytest.mark.parametrize("feature", ["pixels8x8", "colour_hist"])
def test_global_features_do_not_separate_classes(features, feature, clf):
    feats, y = features
    x = feats[feature]
    acc = float((clf(x[:600], y[:600], x[600:]) == y[600:]).mean())
    print(f"{feature} {clf.__name__}: held-out accuracy {acc:.3f}")
    assert acc < 0.85, f"{feature} + {clf.__name__} separates the classes ({acc:.3f}): a trivial cue"


# --- argument validation -------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [
    (dict(n=-1), "n .*>= 0"),
    (dict(n=2, size=31), "size must be >= 32"),
    (dict(n=2, seed=-3), "seed"),
    (dict(n=2, start=-1), "start"),
    (dict(n=2.5), "n must be an integer"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate(**kwargs)


# --- on disk ----------------------------------------------------------------------------------
def test_write_imagefolder_layout_counts_and_content(tmp_path):
    root = tmp_path / "ds"
    counts = {"train": 6, "val": 3, "test": 4}
    result = write_imagefolder(root, counts, seed=2, size=48)
    assert result == {"train": {"helmet": 3, "no_helmet": 3}, "val": {"helmet": 2, "no_helmet": 1},
                      "test": {"helmet": 2, "no_helmet": 2}}
    assert sorted(p.name for p in root.iterdir()) == ["test", "train", "val"]
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]  # no temporary directory left behind
    spec = PreprocessSpec(input_size=48)
    seen: dict[str, set[int]] = {}
    for split, per_class in result.items():
        assert sorted(p.name for p in (root / split).iterdir()) == sorted(LABELS)
        seen[split] = set()
        for name in LABELS:
            files = image_files(root / split / name)
            assert len(files) == per_class[name]
            for f in files:
                assert len(f.stem) == 6 and f.suffix == ".png"
                index = int(f.stem)
                assert LABELS[label_of(index)] == name
                seen[split].add(index)
                expected = generate(1, seed=2, size=48, start=index)[0][0]
                np.testing.assert_array_equal(spec.load_uint8(f), expected)
    assert seen["train"] == set(range(0, 6)) and seen["val"] == set(range(6, 9))
    assert seen["test"] == set(range(9, 13))


def test_write_imagefolder_accepts_existing_empty_dir(tmp_path):
    (tmp_path / "empty").mkdir()
    assert write_imagefolder(tmp_path / "empty", {"train": 2}, size=32) == {"train": {"helmet": 1, "no_helmet": 1}}


def test_write_imagefolder_refuses_non_empty_root(tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    (root / "keep.txt").write_text("precious")
    with pytest.raises(ValueError, match="not empty"):
        write_imagefolder(root, {"train": 2}, size=32)
    assert [p.name for p in root.iterdir()] == ["keep.txt"] and (root / "keep.txt").read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


def test_write_imagefolder_rejects_bad_counts(tmp_path):
    with pytest.raises(ValueError, match=">= 0"):
        write_imagefolder(tmp_path / "a", {"train": -1})
    with pytest.raises(ValueError, match="size"):
        write_imagefolder(tmp_path / "b", {"train": 1}, size=16)
    with pytest.raises(ValueError, match="split"):
        write_imagefolder(tmp_path / "c", {})
    assert list(tmp_path.iterdir()) == []


def test_write_imagefolder_is_atomic_on_failure(tmp_path, monkeypatch):
    real = synthetic.generate
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(synthetic, "generate", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_imagefolder(tmp_path / "ds", {"train": 2, "val": 2}, size=32)
    assert list(tmp_path.iterdir()) == []  # neither a half-written root nor the temporary directory


# --- CLI ------------------------------------------------------------------------------------
def _cli(*args):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "data.synthetic", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_writes_the_dataset(tmp_path):
    out = tmp_path / "cli_ds"
    r = _cli("--out", str(out), "--train", "4", "--val", "2", "--test", "3", "--seed", "7", "--size", "40")
    assert r.returncode == 0, r.stderr
    assert "train: helmet=2, no_helmet=2" in r.stdout and "test: helmet=2, no_helmet=1" in r.stdout
    files = sorted(out.glob("*/*/*.png"))
    assert len(files) == 9
    img = PreprocessSpec(input_size=40).load_uint8(out / "val" / "helmet" / "000004.png")
    np.testing.assert_array_equal(img, generate(1, seed=7, size=40, start=4)[0][0])


def test_cli_refuses_non_empty_out_and_bad_size(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    r = _cli("--out", str(tmp_path), "--train", "2", "--val", "0", "--test", "0")
    assert r.returncode != 0 and "not empty" in r.stderr
    r = _cli("--out", str(tmp_path / "new"), "--train", "2", "--size", "8")
    assert r.returncode != 0 and "size must be >= 32" in r.stderr
    assert not (tmp_path / "new").exists()
