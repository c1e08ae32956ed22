"""benchmarks.bootstrap: balanced accuracy and its photo-level (cluster) bootstrap interval."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.bootstrap import balanced_accuracy, cluster_bootstrap


def test_balanced_accuracy_is_the_mean_recall_of_the_classes_present():
    labels = np.array([0, 0, 0, 1])
    assert balanced_accuracy(labels, np.array([0, 0, 0, 0])) == 0.5
    assert balanced_accuracy(labels, np.array([0, 0, 1, 1])) == pytest.approx((2 / 3 + 1) / 2)
    assert balanced_accuracy(np.array([1, 1]), np.array([1, 0])) == 0.5


def noisy_predictions(n_photos: int, per_photo: int, error: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n_photos * per_photo)
    groups = np.repeat(np.arange(n_photos), per_photo)
    preds = np.where(rng.random(labels.size) < error, 1 - labels, labels)
    return labels, groups.tolist(), preds


def test_interval_holds_the_estimate_and_narrows_with_more_photos():
    small = cluster_bootstrap(*noisy_predictions(50, 2, 0.1)[:2], {"m": noisy_predictions(50, 2, 0.1)[2]}, 500)
    large = cluster_bootstrap(*noisy_predictions(800, 2, 0.1)[:2], {"m": noisy_predictions(800, 2, 0.1)[2]}, 500)
    for r in (small, large):
        lo, hi = r["m"]["ci"]
        assert lo <= r["m"]["balanced_accuracy"] <= hi
    width = lambda r: r["m"]["ci"][1] - r["m"]["ci"][0]  # noqa: E731
    assert width(large) < 0.5 * width(small)
    assert large["groups"] == 800 and large["items"] == 1600


def test_resampling_photos_widens_the_interval_when_a_photo_errs_as_a_whole():
    """Ten crops per photo, all right or all wrong: the crops of one photo are one observation."""
    rng = np.random.default_rng(1)
    labels = np.tile([0, 1], 400)
    photo_wrong = rng.random(80) < 0.15
    groups = np.repeat(np.arange(80), 10)
    preds = np.where(photo_wrong[groups], 1 - labels, labels)
    by_photo = cluster_bootstrap(labels, groups.tolist(), {"m": preds}, 500)
    by_crop = cluster_bootstrap(labels, list(range(800)), {"m": preds}, 500)
    width = lambda r: r["m"]["ci"][1] - r["m"]["ci"][0]  # noqa: E731
    assert width(by_photo) > 2 * width(by_crop)


def test_paired_difference_is_tighter_than_either_interval():
    labels, groups, preds = noisy_predictions(300, 2, 0.1)
    better = preds.copy()
    fixed = np.flatnonzero(better != labels)[:10]
    better[fixed] = labels[fixed]
    r = cluster_bootstrap(labels, groups, {"a": preds, "b": better}, 1000)
    diff = r["b"]["minus_a"]
    assert diff["value"] > 0 and diff["ci"][0] > 0          # ten fixed errors: a real, detectable gain
    assert diff["ci"][1] - diff["ci"][0] < r["a"]["ci"][1] - r["a"]["ci"][0]
    assert "minus_a" not in r["a"]


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="predictions for"):
        cluster_bootstrap([0, 1], [0, 1], {"m": [0]})
    with pytest.raises(ValueError, match="groups for"):
        cluster_bootstrap([0, 1], [0], {"m": [0, 1]})
    with pytest.raises(ValueError, match="at least one"):
        cluster_bootstrap([0, 1], [0, 1], {})


def fold(k: int, labels, pytorch, int8, groups, crops=None) -> dict:
    crops = crops or [f"test/{k}_{i}.png" for i in range(len(labels))]
    return {"fold": k, "fit_seconds": 10.0 + k, "crops": crops, "labels": labels, "groups": groups, "pytorch": pytorch,
            "tflite_int8": int8, "balanced_accuracy": {"pytorch": 1.0, "tflite_int8": 1.0}, "int8_agreement": 1.0}


def test_cross_validation_pools_folds():
    from benchmarks.real_cv import pool

    pooled = pool([fold(0, [0, 1, 0, 1], [0, 1, 0, 1], [0, 1, 1, 1], ["p", "p", "q", "r"]),
                   fold(1, [0, 1], [0, 0], [0, 0], ["s", "t"])])
    assert pooled["crops"] == 6 and pooled["photo_groups"] == 5 and pooled["folds"] == [0, 1]
    assert pooled["pytorch"]["balanced_accuracy"] == pytest.approx((1 + 2 / 3) / 2)
    assert pooled["int8_agreement"] == pytest.approx(5 / 6)
    assert pooled["tflite_int8"]["minus_pytorch"]["value"] == pytest.approx(
        pooled["tflite_int8"]["balanced_accuracy"] - pooled["pytorch"]["balanced_accuracy"])
    assert pooled["fit_seconds_per_fold"] == [10.0, 11.0] and pooled["fit_seconds_median"] == 10.5


def test_every_row_is_compared_with_the_reference_model_on_its_own_folds_and_heads():
    from benchmarks.real_cv import across_splits, build_parser, compare_models, pool, row_name, row_settings

    labels = [0, 1, 0, 1, 0, 1]
    crops = [f"test/{i}.png" for i in range(6)]
    split0 = {"crops": crops, "labels": labels, "groups": list("ppqrst")}
    split1 = {k: v[::-1] for k, v in split0.items()}     # the same heads, other folds: another order

    def row(arch, argv, split, int8, crops=None):
        args = build_parser().parse_args(argv)
        folds = [fold(0, split["labels"], int8, int8, split["groups"], crops or split["crops"])]
        return row_name(arch, args), {"settings": row_settings(arch, args), **pool(folds)}

    perfect, one_error = labels, [1, 1, 0, 1, 0, 1]
    results = dict([
        row("slim_mobilenet", [], split0, one_error),
        row("slim_mobilenet", ["--teacher", "slim_mobilenet"], split0, perfect),
        row("slim_mobilenet", ["--margin", "0.5"], split0, one_error),
        row("slim_mobilenet", ["--split-seed", "1"], split1, perfect[::-1]),
        row("slim_mobilenet", ["--split-seed", "1", "--teacher", "slim_mobilenet"], split1, one_error[::-1]),
        row("mobilenet_v2", ["--duplicate-distance", "off"], split0, perfect),          # no slim row on its folds
        row("mobilenet_v2", ["--label", "other_heads", "--", "--x=1"], split0, perfect, crops[::-1]),
    ])
    comparison = compare_models(results)
    rows = comparison["rows"]
    assert set(rows) == {"slim_mobilenet_distilled_slim_mobilenet", "slim_mobilenet_margin0.5",
                         "slim_mobilenet_distilled_slim_mobilenet_split1"}
    assert rows["slim_mobilenet_distilled_slim_mobilenet"]["reference"] == "slim_mobilenet"
    assert rows["slim_mobilenet_distilled_slim_mobilenet"]["value"] == pytest.approx(1 - (2 / 3 + 1) / 2)
    margin = rows["slim_mobilenet_margin0.5"]
    assert margin["reference"] == "slim_mobilenet" and margin["value"] == 0.0
    split1_row = rows["slim_mobilenet_distilled_slim_mobilenet_split1"]
    assert split1_row["reference"] == "slim_mobilenet_split1" and split1_row["value"] < 0
    assert comparison["not_paired"] == ["mobilenet_v2_photo_split", "mobilenet_v2_other_heads"]

    repeated = across_splits(results)        # recipes run on fold splits 0 and 1, heads counted once per split
    assert set(repeated) == {"slim_mobilenet", "slim_mobilenet_distilled_slim_mobilenet"}
    slim, distilled = repeated["slim_mobilenet"], repeated["slim_mobilenet_distilled_slim_mobilenet"]
    assert slim["split_seeds"] == [0, 1] and slim["crops"] == 12 and slim["minus_reference"] is None
    assert slim["tflite_int8"]["balanced_accuracy"] == pytest.approx(((2 / 3 + 1) / 2 + 1) / 2)
    assert distilled["rows"] == ["slim_mobilenet_distilled_slim_mobilenet", "slim_mobilenet_distilled_slim_mobilenet_split1"]
    assert distilled["minus_reference"]["value"] == pytest.approx(0.0)   # +1 error on split 1 cancels -1 on split 0


def test_every_cross_validation_variant_gets_its_own_row():
    from benchmarks.real_cv import build_parser, row_name

    parse = build_parser().parse_args
    assert row_name("slim_mobilenet", parse([])) == "slim_mobilenet"
    variants = [["--teacher", "mobilenet_v2"], ["--teacher", "slim_mobilenet"], ["--init", "scratch"], ["--margin", "0.5"],
                ["--duplicate-distance", "off"], ["--split-seed", "1"], ["--label", "ls0", "--", "--model.label_smoothing=0"]]
    names = {row_name("slim_mobilenet", parse(v)) for v in variants}
    assert len(names) == len(variants) and "slim_mobilenet" not in names
    assert row_name("slim_mobilenet", parse(["--margin", "0.5"])) == "slim_mobilenet_margin0.5"


def test_a_teacher_is_the_row_of_its_model_on_the_students_folds():
    from benchmarks.real_cv import build_parser, row_name, teacher_row

    parse = build_parser().parse_args
    for folds in ([], ["--split-seed", "1"], ["--margin", "0.5", "--duplicate-distance", "off"]):
        student = parse([*folds, "--teacher", "slim_mobilenet"])
        assert teacher_row(student) == row_name("slim_mobilenet", parse(folds))
        assert row_name("slim_mobilenet", student).startswith("slim_mobilenet_distilled_slim_mobilenet")
    second_generation = parse(["--split-seed", "1", "--teacher", "slim_mobilenet_distilled_slim_mobilenet"])
    assert teacher_row(second_generation) == "slim_mobilenet_distilled_slim_mobilenet_split1"


def test_a_one_split_row_says_whether_it_was_distilled_from_itself():
    from benchmarks.real_data import row_name

    assert row_name("slim_mobilenet", "synthetic", None) == "slim_mobilenet_synthetic"
    assert row_name("slim_mobilenet", "synthetic", "mobilenet_v2_synthetic") == "slim_mobilenet_synthetic_distilled"
    assert row_name("slim_mobilenet", "synthetic", "slim_mobilenet_synthetic") == "slim_mobilenet_synthetic_self_distilled"


def test_a_row_whose_predictions_file_is_missing_is_named(tmp_path):
    from benchmarks.real_cv import load_predictions

    with pytest.raises(SystemExit, match="slim_mobilenet: no per-crop predictions"):
        load_predictions("slim_mobilenet", {"predictions_file": str(tmp_path / "predictions.json")})
    (tmp_path / "predictions.json").write_text('{"crops": ["a.png"]}')
    assert load_predictions("slim_mobilenet", {"predictions_file": str(tmp_path / "predictions.json")}) == {"crops": ["a.png"]}
