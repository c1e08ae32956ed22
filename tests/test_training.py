import json

import pytest
import torch
import yaml

from conftest import REPO, TINY_COUNTS, TINY_SIZE, fit_tiny
from data.errors import ConfigError
from lightning_modules.checkpoint import CheckpointError, load_classifier
from lightning_modules.fit import fit, load_config, main


def fit_command(capsys, *args: str) -> tuple[int, str, str]:
    """``python -m lightning_modules.fit ARGS`` in this process (the module's own ``main``): exit code, stdout,
    stderr. Every such call stops before training: a usage error, a bad setting or ``--print_config``."""
    with pytest.raises(SystemExit) as stopped:
        main(list(args))
    out = capsys.readouterr()
    return stopped.value.code or 0, out.out, out.err


def test_run_directory_is_self_describing(tiny_run, tiny_checkpoint):
    assert (tiny_run / "labels.txt").read_text().split() == ["helmet", "no_helmet"]
    assert json.loads((tiny_run / "preprocess.json").read_text())["input_size"] == TINY_SIZE
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["arch"] == "slim_mobilenet" and metrics["parameters"] <= 150_000
    assert set(metrics["test"]) >= {"acc", "balanced_acc", "f1", "loss"}
    assert metrics["train_images_per_second"] > 0
    assert metrics["checkpoint_monitor"] == "val/balanced_acc" and 0.0 <= metrics["best_monitor_value"] <= 1.0
    assert (tiny_run / "config.yaml").is_file()
    # both overwritten, not versioned: the best by the monitor, and the latest epoch's state for resuming
    assert sorted(p.name for p in (tiny_run / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert metrics["resumed_from"] is None and metrics["fit_seconds_before_resume"] is None
    assert yaml.safe_load((tiny_run / "config.yaml").read_text())["ckpt_path"] is None
    assert list(tiny_run.glob("events.out.tfevents.*"))


def test_tiny_run_learns_better_than_chance(tiny_run):
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["test"]["balanced_acc"] > 0.6, metrics


def test_checkpoint_loads_weights_only_with_its_spec_and_data(tiny_checkpoint):
    last = load_classifier(tiny_checkpoint.with_name("last.ckpt"))  # the resume checkpoint loads the same way
    assert last.arch == "slim_mobilenet" and last.spec.input_size == TINY_SIZE
    loaded = load_classifier(tiny_checkpoint)
    assert loaded.arch == "slim_mobilenet"
    assert loaded.spec.input_size == TINY_SIZE
    assert loaded.data_source == "synthetic" and loaded.data["synthetic_counts"] == TINY_COUNTS
    assert not loaded.model.training
    with torch.no_grad():
        assert loaded.model(torch.rand(1, 3, TINY_SIZE, TINY_SIZE)).shape == (1, 2)


def test_portable_copy_reloads_identically(tiny_checkpoint, tmp_path):
    loaded = load_classifier(tiny_checkpoint)
    again = load_classifier(loaded.save(tmp_path / "model.pt"))
    x = torch.rand(2, 3, TINY_SIZE, TINY_SIZE)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), again.model(x))


def test_checkpoint_of_another_architecture_is_refused(tiny_checkpoint, tmp_path):
    ckpt = torch.load(tiny_checkpoint, weights_only=True)
    ckpt["hyper_parameters"]["arch"] = "mobilenet_v2"  # slim weights labelled as MobileNetV2
    forged = tmp_path / "forged.ckpt"
    torch.save(ckpt, forged)
    with pytest.raises(CheckpointError, match="do not fit a mobilenet_v2"):
        load_classifier(forged)
    with pytest.raises(CheckpointError, match="holds a slim_mobilenet model, expected mobilenet_v2"):
        load_classifier(tiny_checkpoint, expect_arch="mobilenet_v2")


def test_bad_checkpoint_files_get_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_classifier(tmp_path / "missing.ckpt")
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="cannot read"):
        load_classifier(corrupt)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not a checkpoint of this project"):
        load_classifier(foreign)


def test_unsafe_pickle_is_not_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": Evil()}, evil)
    with pytest.raises(CheckpointError, match="weights-only"):
        load_classifier(evil)


def test_no_argument_defaults_are_slim_on_synthetic(capsys):
    code, stdout, stderr = fit_command(capsys, "--print_config")
    assert code == 0, stderr
    config = yaml.safe_load(stdout)
    assert config["model"]["arch"] == "slim_mobilenet"
    assert config["data"]["source"] == "synthetic"
    assert config["data"]["image_size"] == 96


@pytest.mark.parametrize("name", ["slim_mobilenet.yaml", "mobilenet_v2.yaml", "ddp.yaml",
                                  "real_slim_mobilenet.yaml", "real_mobilenet_v2.yaml"])
def test_shipped_configs_parse(name, capsys):
    code, stdout, stderr = fit_command(capsys, "--config", str(REPO / "configs" / name), "--print_config")
    assert code == 0, stderr
    assert yaml.safe_load(stdout)["model"]["arch"] in ("slim_mobilenet", "mobilenet_v2")


@pytest.mark.parametrize("make,match", [(lambda root: None, "does not exist"),
                                        (lambda root: (root / "cats").mkdir(parents=True), "not an ImageFolder")])
def test_bad_data_root_fails_fast_with_a_clear_message(tmp_path, make, match, capsys):
    root = tmp_path / "data"
    make(root)
    code, _, stderr = fit_command(capsys, f"--data.source={root}", f"--trainer.logger.init_args.save_dir={tmp_path}")
    assert code == 2
    assert match in stderr and "Traceback" not in stderr


def test_ema_weights_are_what_is_tested_checkpointed_and_exported(tmp_path):
    from data.sources import load_split
    from lightning_modules.models import build_model

    ema = {"class_path": "lightning_modules.callbacks.EMAWeights", "init_args": {"decay": 0.9}}
    counts = {**TINY_COUNTS, "train": 320, "val": 64}  # a few steps are enough for the average to differ
    run = fit_tiny(tmp_path, epochs=2, overrides={"trainer": {"callbacks": [ema]}, "data": {"synthetic_counts": counts}})
    metrics = json.loads((run / "metrics.json").read_text())
    raw = torch.load(metrics["best_checkpoint"], map_location="cpu", weights_only=True)
    assert "current_model_state" in raw  # Lightning keeps the raw weights beside the averaged ones
    loaded = load_classifier(metrics["best_checkpoint"])  # reads state_dict: the averaged weights
    current = build_model(loaded.arch, **loaded.arch_kwargs).eval()
    current.load_state_dict({k.removeprefix("net."): v for k, v in raw["current_model_state"].items()})

    test = load_split("synthetic", "test", loaded.spec, 0, counts)
    x = torch.from_numpy(loaded.spec.to_float_nchw(test.pixels))
    y = torch.from_numpy(test.labels)
    loss = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    with torch.no_grad():
        averaged_loss = loss(loaded.model(x), y).item()
        current_loss = loss(current(x), y).item()
    assert abs(current_loss - averaged_loss) > 1e-3, "averaging changed nothing; the test cannot tell them apart"
    assert metrics["test"]["loss"] == pytest.approx(averaged_loss, abs=1e-4)


def test_init_checkpoint_starts_from_a_previous_run(tiny_checkpoint):
    from lightning_modules.module import HelmetClassifier

    source = load_classifier(tiny_checkpoint).model.state_dict()
    started = HelmetClassifier(input_size=TINY_SIZE, init_checkpoint=str(tiny_checkpoint)).net.state_dict()
    assert source.keys() == started.keys()
    assert all(torch.equal(source[k], started[k]) for k in source)
    with pytest.raises(CheckpointError, match="holds a slim_mobilenet model, expected mobilenet_v2"):
        HelmetClassifier(arch="mobilenet_v2", init_checkpoint=str(tiny_checkpoint))
    with pytest.raises(CheckpointError, match="does not fit this model"):
        HelmetClassifier(arch_kwargs={"width_mult": 0.5}, init_checkpoint=str(tiny_checkpoint))


def test_missing_init_checkpoint_fails_fast_with_a_clear_message(tmp_path, capsys):
    code, _, stderr = fit_command(capsys, f"--model.init_checkpoint={tmp_path}/nope.ckpt",
                                  f"--trainer.logger.init_args.save_dir={tmp_path}")
    assert code == 2
    assert "checkpoint not found" in stderr and "Traceback" not in stderr


@pytest.mark.parametrize("setting,message", [
    ("--model.mixup_alpha=-1", "mixup_alpha and cutmix_alpha must be >= 0"),
    ("--model.arch_kwargs={width_mult: -1}", "model: width_mult must be > 0"),
    ("--model.distill_weight=2", "distill_weight must be in (0, 1]"),
])
def test_bad_settings_on_the_command_line_get_one_clear_line(tmp_path, setting, message, capsys):
    code, _, stderr = fit_command(capsys, setting, f"--model.teacher_checkpoint={tmp_path}/t.ckpt",
                                  f"--trainer.logger.init_args.save_dir={tmp_path}")
    assert code == 2
    assert message in stderr and "Traceback" not in stderr


def test_mixup_and_cutmix_train_on_soft_targets():
    from lightning_modules.module import HelmetClassifier

    torch.manual_seed(0)
    model = HelmetClassifier(input_size=TINY_SIZE, mixup_alpha=1.0, cutmix_alpha=1.0)
    x, y = torch.rand(16, 3, TINY_SIZE, TINY_SIZE), torch.tensor([0, 1] * 8)
    draws = [model.batch_mix(x, y) for _ in range(4)]
    for mixed_x, soft in draws:
        assert soft.shape == (16, 2) and torch.allclose(soft.sum(1), torch.ones(16))
        assert not torch.equal(mixed_x, x)
    assert any(((soft > 0.01) & (soft < 0.99)).any() for _, soft in draws), "no label was mixed"
    mixed_x, soft = draws[0]
    loss = model.loss(model(mixed_x), soft)
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.net.parameters() if p.requires_grad)
    assert HelmetClassifier(input_size=TINY_SIZE).batch_mix is None  # off by default
    with pytest.raises(ConfigError, match="must be >= 0"):
        HelmetClassifier(input_size=TINY_SIZE, mixup_alpha=-1.0)


def test_runs_train_every_epoch_unless_early_stopping_is_asked_for(tiny_run, capsys):
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["epochs_trained"] == 8  # fit_tiny's max_epochs: nothing stopped the cosine schedule
    for name in ["slim_mobilenet.yaml", "real_slim_mobilenet.yaml", "real_mobilenet_v2.yaml"]:
        code, stdout, stderr = fit_command(capsys, "--config", str(REPO / "configs" / name),
                                           "--trainer.callbacks+=EarlyStopping", "--trainer.callbacks.monitor=val/loss",
                                           "--print_config")
        assert code == 0, stderr
        callbacks = yaml.safe_load(stdout)["trainer"]["callbacks"]
        assert [c["class_path"] for c in callbacks] == ["pytorch_lightning.callbacks.EarlyStopping"]


def test_load_config_merges_yaml_files_then_overrides(tmp_path):
    config = load_config(REPO / "configs" / "real_slim_mobilenet.yaml", REPO / "configs" / "ddp.yaml", overrides={
        "model": {"lr": 0.001}, "trainer": {"max_epochs": 40, "logger": {"init_args": {"save_dir": "elsewhere"}}},
        "data": {"source": "/path", "augment": {"zoom": [1.0, 1.0]}}})
    assert config["model"]["lr"] == 0.001 and config["model"]["class_weights"] == "balanced"  # merged, not replaced
    assert config["trainer"]["max_epochs"] == 40 and config["trainer"]["strategy"] == "ddp"  # the second file
    assert config["trainer"]["logger"]["init_args"] == {"save_dir": "elsewhere", "name": "real_slim_mobilenet",
                                                         "default_hp_metric": False}
    assert config["data"]["augment"]["zoom"] == [1.0, 1.0] and config["data"]["augment"]["hflip"] is True
    assert config["checkpoint"] == {"monitor": "val/loss", "mode": "min"}
    assert load_config() == {}
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(tmp_path / "list.yaml")


def test_fit_refuses_an_unknown_setting_with_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="config: .*learning_rate"):
        fit(load_config(overrides={"model": {"learning_rate": 0.1},
                                   "trainer": {"logger": {"init_args": {"save_dir": str(tmp_path)}}}}))
    assert not list(tmp_path.iterdir())  # refused before anything was written
