"""ImageNet weights for MobileNetV2 through torchvision's weights API: from the hub cache, offline."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import mobilenet_v2

from conftest import REPO, network_blocked
from data.errors import RuntimeUnavailableError
from lightning_modules.checkpoint import load_classifier
from lightning_modules.models import build_model

CACHED_FILE = "mobilenet_v2-7ebf99e0.pth"  # IMAGENET1K_V2, as torchvision names it


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


def fake_imagenet_file(torch_home) -> torch.nn.Module:
    """A MobileNetV2 state dict in torchvision's file layout, where torch.hub looks for it."""
    reference = mobilenet_v2(weights=None)
    torch.nn.init.constant_(reference.features[0][0].weight, 0.25)
    path = torch_home / "hub" / "checkpoints" / CACHED_FILE
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)
    return reference


def test_imagenet_weights_are_loaded_from_the_hub_cache_with_sockets_blocked(torch_home):
    reference = fake_imagenet_file(torch_home)
    with network_blocked() as attempts:
        model = build_model("mobilenet_v2", weights="IMAGENET1K_V2")
    assert attempts == []
    for name, tensor in reference.features.state_dict().items():
        assert torch.equal(model.features.state_dict()[name], tensor), name
    assert model.classifier.out_features == 2  # the 1000-class head is not taken


def test_missing_weights_offline_name_the_file_and_the_cache_path(torch_home):
    with network_blocked(), pytest.raises(RuntimeUnavailableError) as error:
        build_model("mobilenet_v2", weights="IMAGENET1K_V2")
    message = str(error.value)
    assert CACHED_FILE in message and str(torch_home / "hub" / "checkpoints" / CACHED_FILE) in message
    assert "\n" not in message and error.value.exit_code == 2


@pytest.mark.parametrize("kwargs,match", [({"weights": "IMAGENET9K"}, "unknown MobileNetV2 weights"),
                                          ({"weights": "IMAGENET1K_V2", "width_mult": 0.5}, "width_mult 1.0"),
                                          ({"weights": "IMAGENET1K_V2", "pretrained_path": "x.pth"}, "not both")])
def test_bad_weights_options_are_refused(torch_home, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_model("mobilenet_v2", **kwargs)


def test_a_trained_checkpoint_never_asks_for_the_imagenet_file_again(torch_home, tmp_path):
    trained = build_model("mobilenet_v2")
    checkpoint = tmp_path / "trained.ckpt"
    torch.save({"hyper_parameters": {"arch": "mobilenet_v2", "input_size": 96,
                                     "arch_kwargs": {"weights": "IMAGENET1K_V2", "dropout": 0.2}},
                "state_dict": {f"net.{k}": v for k, v in trained.state_dict().items()}}, checkpoint)
    with network_blocked() as attempts:  # the cache is empty: loading must not look for the file
        loaded = load_classifier(checkpoint)
    assert attempts == [] and "weights" not in loaded.arch_kwargs
    x = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), trained.eval()(x))


def test_fit_offline_without_the_file_exits_2_with_one_line(torch_home, tmp_path, capsys):
    from lightning_modules.fit import main as fit_main

    with network_blocked(), pytest.raises(SystemExit) as stopped:
        fit_main(["--config", str(REPO / "configs" / "mobilenet_v2.yaml"), "--model.arch_kwargs.weights=IMAGENET1K_V2",
                  f"--trainer.logger.init_args.save_dir={tmp_path}"])
    err = capsys.readouterr().err
    assert stopped.value.code == 2, err[-2000:]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and CACHED_FILE in errors[0] and "Traceback" not in err
