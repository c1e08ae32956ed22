"""A recipe runs its stages in order into one run directory, reuses finished stages, and refuses bad files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from conftest import REPO
from data.errors import ConfigError
from lightning_modules.checkpoint import load_classifier
from lightning_modules.recipe import load_recipe, main, run_recipe

TINY = {"data": {"image_size": 32, "batch_size": 16}, "trainer": {"max_epochs": 1, "enable_model_summary": False},
        "progress_bar": {"refresh_rate": 0}}


def image_folder(root, per_class=12):
    rng = np.random.default_rng(0)
    for split in ("train", "val", "test"):
        for label, base in (("helmet", 200), ("no_helmet", 40)):
            (root / split / label).mkdir(parents=True)
            for i in range(per_class):
                pixels = np.clip(base + rng.normal(0, 20, (24, 24, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(root / split / label / f"{i}.png")
    return root


def write_recipe(path, stages):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    return path


@pytest.fixture
def three_stages(tmp_path):
    synthetic = {**TINY, "data": {**TINY["data"], "synthetic_counts": {"train": 64, "val": 32, "test": 32}}}
    return write_recipe(tmp_path / "recipes" / "tiny.yaml", {
        "synthetic": {"configs": [str(REPO / "configs/slim_mobilenet.yaml")], "overrides": synthetic},
        "teacher": {"configs": [str(REPO / "configs/real_slim_mobilenet.yaml")], "overrides": TINY, "data": True,
                    "init_from": "synthetic"},
        "student": {"configs": [str(REPO / "configs/real_slim_mobilenet.yaml")], "overrides": TINY, "data": True,
                    "init_from": "synthetic", "teacher_from": "teacher"}})


def test_stages_run_in_order_into_one_run_directory_and_are_reused(tmp_path, three_stages):
    data = image_folder(tmp_path / "crops")
    summary = run_recipe(three_stages, tmp_path / "run", data)
    assert list(summary["stages"]) == ["synthetic", "teacher", "student"]
    student = load_classifier(tmp_path / "run" / "checkpoints" / "best.ckpt")  # what export takes
    assert student.data_source == str(data.resolve()) and student.spec.input_size == 32
    config = yaml.safe_load((tmp_path / "run" / "stages" / "student" / "version_0" / "config.yaml").read_text())
    assert config["model"]["teacher_checkpoint"] == summary["stages"]["teacher"]["best_checkpoint"]
    assert config["model"]["init_checkpoint"] == summary["stages"]["synthetic"]["best_checkpoint"]
    recorded = json.loads((tmp_path / "run" / "recipe.json").read_text())
    assert recorded["fit_seconds_total"] == pytest.approx(sum(s["fit_seconds"] for s in recorded["stages"].values()))
    assert recorded["schedules_completed"] is True
    again = run_recipe(three_stages, tmp_path / "run", data)  # every stage finished: nothing is retrained
    assert again["stages"] == summary["stages"]
    assert sorted(p.name for p in (tmp_path / "run" / "stages" / "student").iterdir()) == ["version_0"]
    with torch.no_grad():
        x = torch.rand(1, 3, 32, 32)
        assert torch.equal(load_classifier(again["best_checkpoint"]).model(x), student.model(x))


@pytest.mark.parametrize("stages,match", [
    ({"a": {"configs": ["configs/slim_mobilenet.yaml"], "epochs": 3}}, "unknown keys"),
    ({"a": {"configs": ["configs/slim_mobilenet.yaml"], "init_from": "b"},
      "b": {"configs": ["configs/slim_mobilenet.yaml"]}}, "not an earlier stage"),
    ({"a": {"configs": ["configs/missing.yaml"]}}, "do not exist"),
    ({"a": {"overrides": {}}}, "needs a 'configs:' list"),
])
def test_bad_recipes_are_refused_before_training(tmp_path, stages, match):
    recipe = write_recipe(tmp_path / "configs" / "recipes" / "bad.yaml", stages)
    (tmp_path / "configs" / "slim_mobilenet.yaml").write_text((REPO / "configs/slim_mobilenet.yaml").read_text())
    with pytest.raises(ConfigError, match=match):
        load_recipe(recipe)


def test_the_shipped_recipes_load():
    for recipe in (REPO / "configs" / "recipes").glob("*.yaml"):
        assert load_recipe(recipe)[-1].data, recipe  # the last stage trains on the real data


def test_the_microcontroller_recipe_trains_the_mcu_shape_from_the_default_teacher():
    from lightning_modules.fit import load_config
    from lightning_modules.models import build_model

    stages = {stage.name: stage for stage in load_recipe(REPO / "configs" / "recipes" / "real_slim_mobilenet_mcu.yaml")}
    student, teacher = (load_config(*stages[name].configs) for name in ("student", "teacher"))
    assert stages["student"].teacher_from == "teacher" and stages["student"].init_from == "synthetic_mcu"
    assert student["data"]["image_size"] == 65 and teacher["data"]["image_size"] == 96
    assert student["model"]["arch_kwargs"]["dropout"] == 0.2  # the real recipe's, merged under the MCU shape
    model = build_model(student["model"]["arch"], **student["model"]["arch_kwargs"])
    assert sum(p.numel() for p in model.parameters()) == 45_538  # the default: 137,666
    start = load_config(*stages["synthetic_mcu"].configs)  # the student starts from it: the same shape
    assert start["data"]["image_size"] == 65 and start["data"]["source"] == "synthetic"
    for key in ("blocks", "last_channels", "width_mult"):
        assert start["model"]["arch_kwargs"][key] == student["model"]["arch_kwargs"][key]


def test_a_real_stage_without_data_is_one_clear_line(tmp_path, three_stages, capsys):
    assert main([str(three_stages), "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: stage 'teacher' trains on real data")
