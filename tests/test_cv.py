"""Cross-validation rows (benchmarks.cv_rows, cv_pool): names, pooling, per-dataset scores and paired comparisons."""

from __future__ import annotations

import pytest

from benchmarks.cv_pool import across_splits, compare_rows, markdown, pool
from benchmarks.cv_rows import RowSpec, parse_settings, reference_row


def fold(k: int, labels, pytorch, int8, groups, crops=None, datasets=None) -> dict:
    crops = crops or [f"test/{k}_{i}.png" for i in range(len(labels))]
    return {"fold": k, "fit_seconds": 10.0 + k, "crops": crops, "labels": labels, "groups": groups, "pytorch": pytorch,
            "tflite_int8": int8, "balanced_accuracy": {"pytorch": 1.0, "tflite_int8": 1.0}, "int8_agreement": 1.0,
            "datasets": datasets or ["riders"] * len(labels)}


def test_cross_validation_pools_folds_overall_and_per_dataset():
    pooled = pool([fold(0, [0, 1, 0, 1], [0, 1, 0, 1], [0, 1, 1, 1], ["p", "p", "q", "r"], datasets=list("aabb")),
                   fold(1, [0, 1], [0, 0], [0, 0], ["s", "t"], datasets=list("ab"))])
    assert pooled["crops"] == 6 and pooled["photo_groups"] == 5 and pooled["folds"] == [0, 1]
    assert pooled["pytorch"]["balanced_accuracy"] == pytest.approx((1 + 2 / 3) / 2)
    assert pooled["int8_agreement"] == pytest.approx(5 / 6)
    assert pooled["tflite_int8"]["minus_pytorch"]["value"] == pytest.approx(
        pooled["tflite_int8"]["balanced_accuracy"] - pooled["pytorch"]["balanced_accuracy"])
    assert pooled["fit_seconds_per_fold"] == [10.0, 11.0] and pooled["fit_seconds_median"] == 10.5
    a, b = pooled["per_dataset"]["a"], pooled["per_dataset"]["b"]
    assert a["crops"] == 3 and a["tflite_int8"]["balanced_accuracy"] == 1.0                  # all three right
    assert b["crops"] == 3 and b["tflite_int8"]["balanced_accuracy"] == pytest.approx((0 + 1 / 2) / 2)  # 0: 0/1, 1: 1/2
    assert "a 1.000, b 0.250" in markdown({"x": {"settings": {}, **pooled}})


def test_every_row_is_compared_with_the_reference_model_on_its_own_folds_and_heads():
    labels = [0, 1, 0, 1, 0, 1]
    crops = [f"test/{i}.png" for i in range(6)]
    split0 = {"crops": crops, "labels": labels, "groups": list("ppqrst")}
    split1 = {k: v[::-1] for k, v in split0.items()}     # the same heads, other folds: another order

    def row(spec: RowSpec, split, int8, crops=None):
        return spec.name, {"settings": spec.settings(), **pool([fold(0, split["labels"], int8, int8, split["groups"],
                                                                     crops or split["crops"])])}

    perfect, one_error = labels, [1, 1, 0, 1, 0, 1]
    results = dict([
        row(RowSpec("slim_mobilenet"), split0, one_error),
        row(RowSpec("slim_mobilenet", teacher="slim_mobilenet"), split0, perfect),
        row(RowSpec("slim_mobilenet", add_source=["hardhat"]), split0, perfect),
        row(RowSpec("slim_mobilenet", margin=0.5), split0, one_error),
        row(RowSpec("slim_mobilenet", split_seed=1), split1, perfect[::-1]),
        row(RowSpec("slim_mobilenet", teacher="slim_mobilenet", split_seed=1), split1, one_error[::-1]),
        row(RowSpec("mobilenet_v2", duplicate_distance=None), split0, perfect),        # no slim row on its folds
        row(RowSpec("mobilenet_v2", label="other_heads"), split0, perfect, [f"other/{i}.png" for i in range(6)]),
        row(RowSpec("slim_mobilenet", label="four_folds"), {k: v[:4] for k, v in split0.items()}, perfect[:4]),
    ])
    comparison = compare_rows(results, lambda s: reference_row("slim_mobilenet", s))
    rows = comparison["rows"]
    assert set(rows) == {"slim_mobilenet_distilled_slim_mobilenet", "slim_mobilenet_plus_hardhat",
                         "slim_mobilenet_margin0.5", "slim_mobilenet_distilled_slim_mobilenet_split1",
                         "slim_mobilenet_four_folds"}
    # a row that ran some folds is paired on its own heads: the reference's one error (head 0) is among them
    assert rows["slim_mobilenet_four_folds"]["heads"] == 4
    assert rows["slim_mobilenet_four_folds"]["value"] == pytest.approx(1 - (1 / 2 + 1) / 2)
    assert rows["slim_mobilenet_plus_hardhat"]["reference"] == "slim_mobilenet"  # a second source: same rider heads
    assert rows["slim_mobilenet_distilled_slim_mobilenet"]["value"] == pytest.approx(1 - (2 / 3 + 1) / 2)
    assert rows["slim_mobilenet_margin0.5"]["reference"] == "slim_mobilenet"
    split1_row = rows["slim_mobilenet_distilled_slim_mobilenet_split1"]
    assert split1_row["reference"] == "slim_mobilenet_split1" and split1_row["value"] < 0
    assert comparison["not_paired"] == ["mobilenet_v2_photo_split", "mobilenet_v2_other_heads"]

    repeated = across_splits(results, lambda s: RowSpec.from_settings(s).recipe_name, "slim_mobilenet")
    assert set(repeated) == {"slim_mobilenet", "slim_mobilenet_distilled_slim_mobilenet"}
    slim, distilled = repeated["slim_mobilenet"], repeated["slim_mobilenet_distilled_slim_mobilenet"]
    assert slim["split_seeds"] == [0, 1] and slim["crops"] == 12 and slim["minus_reference"] is None
    assert distilled["minus_reference"]["value"] == pytest.approx(0.0)   # +1 error on split 1 cancels -1 on split 0


def test_every_variant_gets_its_own_row_name():
    variants = [RowSpec("slim_mobilenet", teacher="mobilenet_v2"), RowSpec("slim_mobilenet", init="scratch"),
                RowSpec("slim_mobilenet", margin=0.5), RowSpec("slim_mobilenet", duplicate_distance=None),
                RowSpec("slim_mobilenet", split_seed=1), RowSpec("slim_mobilenet", label="e40"),
                RowSpec("slim_mobilenet", add_source=["hardhat"]), RowSpec("slim_mobilenet", teacher="slim_mobilenet"),
                RowSpec("slim_mobilenet", init="slim_mobilenet_e40_plus_hardhat")]
    names = {spec.name for spec in variants}
    assert len(names) == len(variants) and "slim_mobilenet" not in names
    assert RowSpec("slim_mobilenet", init="x").name == "slim_mobilenet_from_x"
    assert RowSpec("slim_mobilenet", label="e40", add_source=["hardhat"], split_seed=2).name == \
        "slim_mobilenet_e40_plus_hardhat_split2"
    spec = RowSpec("slim_mobilenet", label="w0.5_s81", overrides={"model": {"arch_kwargs": {"width_mult": 0.5}}})
    assert RowSpec.from_settings(spec.settings()) == spec


def test_set_options_become_a_nested_config():
    assert parse_settings(["trainer.max_epochs=40", "model.lr=1e-3", "model.arch_kwargs.width_mult=0.5"]) == {
        "trainer": {"max_epochs": 40}, "model": {"lr": 0.001, "arch_kwargs": {"width_mult": 0.5}}}
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        parse_settings(["trainer.max_epochs"])


def test_a_row_pairs_the_predictions_of_its_own_folds_and_names_a_missing_one(tmp_path):
    import json

    from benchmarks.cv_rows import row_predictions

    for k in (0, 1, 4):  # fold 4: a later --only-folds 4 run of the same row, not part of this row yet
        (tmp_path / f"fold{k}").mkdir()
        (tmp_path / f"fold{k}" / "fold.json").write_text(json.dumps(fold(k, [0, 1], [0, 1], [0, 0], [f"g{k}", f"h{k}"])))
    row = {"folds": [0, 1], "row_dir": str(tmp_path)}
    pooled = row_predictions("slim_mobilenet", row)
    assert pooled["crops"] == ["test/0_0.png", "test/0_1.png", "test/1_0.png", "test/1_1.png"]
    assert pooled["groups"] == ["g0", "h0", "g1", "h1"] and pooled["tflite_int8"] == [0, 0, 0, 0]
    assert pooled == pool([fold(k, [0, 1], [0, 1], [0, 0], [f"g{k}", f"h{k}"]) for k in (0, 1)])["predictions"]
    with pytest.raises(SystemExit, match="slim_mobilenet: fold 3 has no .*fold3/fold.json"):
        row_predictions("slim_mobilenet", {**row, "folds": [0, 3]})


def test_the_error_report_counts_errors_by_dataset_class_and_head_size():
    from benchmarks.real_errors import analyse

    predictions = {"crops": ["a", "b", "c", "d"], "labels": [0, 1, 0, 1], "groups": ["g1", "g1", "g2", "g3"],
                   "datasets": ["riders", "riders", "hardhat", "hardhat"], "pytorch": [0, 1, 1, 1],
                   "tflite_int8": [0, 0, 1, 1]}
    report = analyse(predictions, {"a": 10, "b": 15, "c": 22, "d": 40})
    assert report["errors"] == 2 and report["errors_by_true_class"] == {"helmet": 1, "no_helmet": 1}
    riders = report["errors_by_dataset"]["riders"]
    assert riders["errors"] == 1 and riders["int8_balanced_accuracy"]["balanced_accuracy"] == 0.5
    assert [b["errors"] for b in report["by_head_size"]] == [0, 1, 0, 1, 0]
    assert [w["crop"] for w in report["wrong"]] == ["b", "c"]


def test_a_clone_without_the_fold_runs_pairs_stored_predictions_and_keeps_recorded_comparisons(tmp_path):
    import json

    from benchmarks.cv_rows import stored_predictions
    from benchmarks.real_cv import one_row_a_line, summarise

    labels, groups = [0, 1, 0, 1], ["p", "q", "r", "s"]

    def row(spec: RowSpec, int8, on_disk: bool):
        pooled = pool([fold(0, labels, int8, int8, groups)])
        predictions = pooled.pop("predictions")
        where = tmp_path / "work" / spec.name
        if on_disk:
            (where / "fold0").mkdir(parents=True)
            (where / "fold0" / "fold.json").write_text(json.dumps(fold(0, labels, int8, int8, groups)))
        return {"settings": spec.settings(), **pooled, "row_dir": str(where)}, predictions

    reference, _ = row(RowSpec("slim_mobilenet"), [0, 1, 0, 0], on_disk=True)
    distilled, distilled_predictions = row(RowSpec("slim_mobilenet", teacher="slim_mobilenet"), labels, on_disk=False)
    older, _ = row(RowSpec("slim_mobilenet", label="older"), labels, on_disk=False)
    (tmp_path / "real_cv_predictions.json").write_text(one_row_a_line({"slim_mobilenet_distilled_slim_mobilenet":
                                                                       distilled_predictions}))
    results = {"slim_mobilenet": reference, "slim_mobilenet_distilled_slim_mobilenet": distilled,
               "slim_mobilenet_older": older,
               "_comparison": {"rows": {"slim_mobilenet_older": {"reference": "slim_mobilenet", "value": 0.01,
                                                                 "ci": [-0.02, 0.04]}}}}
    summary = summarise(results, "slim_mobilenet", stored_predictions(tmp_path))
    compared = summary["_comparison"]["rows"]
    assert compared["slim_mobilenet_distilled_slim_mobilenet"]["value"] == pytest.approx(1 - 0.75)  # re-paired
    assert compared["slim_mobilenet_older"] == {"reference": "slim_mobilenet", "value": 0.01, "ci": [-0.02, 0.04],
                                                "recorded": True}
    assert "(recorded earlier)" in markdown(summary) and "predictions" not in summary["slim_mobilenet_older"]
