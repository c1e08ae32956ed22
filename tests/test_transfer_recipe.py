"""Transfer learning as one recipe: a stage starts from a Keras weights file (--weights), runs in TensorFlow's
conventions, and every later rebuild (reload, distillation, export) is that same network."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import REPO
from data.errors import ConfigError
from lightning_modules.checkpoint import load_classifier
from lightning_modules.models.conventions import Conv2dTFSame
from lightning_modules.recipe import main, run_recipe
from test_recipe import TINY, image_folder, write_recipe


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    import tf_keras

    from test_keras_weights import randomise

    model = tf_keras.applications.MobileNetV2(alpha=0.35, include_top=False, weights=None, input_shape=(32, 32, 3))
    randomise(model)
    path = tmp_path_factory.mktemp("weights") / "mobilenet_v2_0.35_no_top.h5"
    model.save_weights(str(path))
    return path


def transfer_recipe(path):
    teacher = {**TINY, "model": {"arch_kwargs": {"width_mult": 0.35}}}
    return write_recipe(path, {
        "teacher": {"configs": [str(REPO / "configs/imagenet_mobilenet_v2.yaml")], "overrides": teacher, "data": True,
                    "weights": True},
        "student": {"configs": [str(REPO / "configs/real_slim_mobilenet.yaml")], "overrides": TINY, "data": True,
                    "teacher_from": "teacher"}})


@pytest.fixture(scope="module")
def transfer_run(tmp_path_factory, keras_file):
    root = tmp_path_factory.mktemp("transfer")
    recipe = transfer_recipe(root / "recipes" / "transfer.yaml")
    return run_recipe(recipe, root / "run", image_folder(root / "crops"), weights=keras_file)


def test_the_weights_stage_stores_tf_conventions_and_reloads_as_the_same_network(transfer_run, keras_file):
    teacher = load_classifier(transfer_run["stages"]["teacher"]["best_checkpoint"])
    assert teacher.arch_kwargs["conventions"] == "tf" and "pretrained_path" not in teacher.arch_kwargs
    assert sum(isinstance(m, Conv2dTFSame) for m in teacher.model.modules()) == 5  # every stride-2 convolution
    assert torch.allclose(teacher.model.normalize.mean, torch.full((1, 3, 1, 1), 0.5))
    assert transfer_run["weights"] == str(keras_file.resolve())
    student = load_classifier(transfer_run["best_checkpoint"])  # distilled from the teacher, in its own conventions
    assert student.arch == "slim_mobilenet" and student.arch_kwargs["conventions"] == "torchvision"


@pytest.mark.slow
def test_the_exported_tf_convention_model_keeps_parity_without_pad_ops(transfer_run, tmp_path):
    from export.to_tflite import export_checkpoint

    result = export_checkpoint(transfer_run["stages"]["teacher"]["best_checkpoint"], tmp_path / "export",
                               calib_samples=24, min_int8_agreement=0.0)
    edgetpu = json.loads((result.out / "edgetpu.json").read_text())
    assert [op["op"] for op in edgetpu["ops"]].count("PAD") == 0  # TensorFlow's SAME, folded into the convolutions
    float32 = result.parity["artifacts"]["tflite_float32"]
    assert float32["agreement_with_pytorch"] == 1.0, float32
    assert edgetpu["compatible"]


def test_init_checkpoint_keeps_its_conventions_and_refuses_others(transfer_run, tmp_path):
    from lightning_modules.module import HelmetClassifier

    teacher = transfer_run["stages"]["teacher"]["best_checkpoint"]
    continued = HelmetClassifier(arch="mobilenet_v2", arch_kwargs={"width_mult": 0.35}, input_size=32,
                                 init_checkpoint=teacher)
    assert continued.hparams.arch_kwargs["conventions"] == "tf"
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(continued.net.eval()(x), load_classifier(teacher).model(x), atol=1e-6)
    with pytest.raises(ConfigError, match="trained in tf conventions, not torchvision"):
        HelmetClassifier(arch="mobilenet_v2", arch_kwargs={"width_mult": 0.35, "conventions": "torchvision"},
                         input_size=32, init_checkpoint=teacher)


@pytest.mark.parametrize("weights,message", [
    (None, "stage 'teacher' starts from ImageNet weights: give --weights FILE; Keras publishes"),
    ("missing.h5", "no such file; Keras publishes MobileNetV2 ImageNet weights at https://"),
])
def test_a_recipe_without_its_weights_file_is_exit_2_saying_where_to_get_one(tmp_path, capsys, weights, message):
    recipe = transfer_recipe(tmp_path / "recipes" / "transfer.yaml")
    args = [str(recipe), "--data", str(tmp_path), "--out", str(tmp_path / "run")]
    assert main(args + (["--weights", str(tmp_path / weights)] if weights else [])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not (tmp_path / "run").exists()


def test_the_shipped_imagenet_recipes_start_from_weights_and_fit_their_alpha():
    from lightning_modules.fit import load_config
    from lightning_modules.recipe import load_recipe

    for name, alpha, size in (("imagenet_mobilenet_v2", 1.0, 160), ("imagenet_mobilenet_v2_035", 0.35, 96)):
        stage, quantization_aware = load_recipe(REPO / "configs" / "recipes" / f"{name}.yaml")
        config = load_config(*stage.configs)
        assert stage.weights and stage.data
        assert config["model"]["arch_kwargs"]["width_mult"] == alpha and config["data"]["image_size"] == size
        # the last stage trains the same network, from the first, on the int8 model's weights
        last = load_config(*quantization_aware.configs)
        assert quantization_aware.init_from == stage.name and not quantization_aware.weights
        assert last["model"]["quantization_aware"] and last["data"]["image_size"] == size
        assert last["model"]["arch_kwargs"]["width_mult"] == alpha
    for name in ("imagenet_slim_mobilenet", "imagenet_slim_mobilenet_mcu"):
        stages = {s.name: s for s in load_recipe(REPO / "configs" / "recipes" / f"{name}.yaml")}
        assert stages["teacher"].weights and stages["student"].teacher_from == "teacher"
        assert load_config(*stages["student"].configs)["model"]["arch"] == "slim_mobilenet"


@pytest.mark.parametrize("config", ["slim_mobilenet.yaml", "imagenet_mobilenet_v2.yaml", "real_slim_mobilenet.yaml"])
def test_configs_ask_for_a_gpu_when_there_is_one_and_run_on_one_cpu_process_here(config, tmp_path):
    from pytorch_lightning.accelerators import CPUAccelerator

    from lightning_modules.fit import _build_cli, load_config

    settings = load_config(REPO / "configs" / config, overrides={
        "data": {"source": "synthetic"}, "trainer": {"logger": {"init_args": {"save_dir": str(tmp_path)}}}})
    assert settings["trainer"]["accelerator"] == "auto" and settings["trainer"]["devices"] == 1
    trainer = _build_cli(settings).trainer
    assert isinstance(trainer.accelerator, CPUAccelerator) and trainer.num_devices == 1 and trainer.world_size == 1
    assert trainer.precision == "32-true"
