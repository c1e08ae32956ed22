import pytest
import torch
from torchvision.models import mobilenet_v2

from lightning_modules.models import build_model, count_parameters
from lightning_modules.models.slim_mobilenet import DEFAULT_BLOCKS


def test_slim_default_is_small_and_gives_logits_and_an_8x8_cam_map():
    model = build_model("slim_mobilenet").eval()
    assert count_parameters(model) <= 150_000
    x = torch.rand(3, 3, 128, 128)
    logits = model(x)
    assert logits.shape == (3, 2)
    assert not torch.allclose(logits[0], logits[1])  # input-dependent logits, not a constant head
    assert model.forward_features(x).shape == (3, 256, 8, 8)


def test_block_table_and_width_change_the_network():
    small = build_model("slim_mobilenet", blocks=DEFAULT_BLOCKS[:3], last_channels=128)
    wide = build_model("slim_mobilenet", width_mult=1.5)
    base = count_parameters(build_model("slim_mobilenet"))
    assert count_parameters(small) < base < count_parameters(wide)
    narrow = build_model("slim_mobilenet", width_mult=0.5)  # every layer shrinks, the last 1x1 conv too
    assert narrow.classifier.in_features == 128 and count_parameters(narrow) < base / 3


@pytest.mark.parametrize("kwargs,match", [
    ({"activation": "gelu"}, "activation"),
    ({"blocks": [(4, 24, 2)]}, "block row"),
    ({"width_mult": 0}, "width_mult"),
    ({"nonsense": 1}, "bad arguments"),
])
def test_bad_slim_configs_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_model("slim_mobilenet", **kwargs)


def test_unknown_architecture_is_refused():
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("resnet50")


def test_gaussian_noise_only_while_training_and_no_inplace_activations():
    model = build_model("slim_mobilenet", input_noise_std=0.5)
    x = torch.rand(2, 3, 64, 64)
    model.train()
    assert not torch.equal(model.noise(x), x)
    model.eval()
    assert torch.equal(model(x), model(x))
    assert not any(getattr(m, "inplace", False) for m in model.modules())


def test_mobilenet_v2_loads_local_pretrained_features_and_reinitialises_head(tmp_path):
    reference = mobilenet_v2(weights=None)
    torch.nn.init.constant_(reference.features[0][0].weight, 0.125)
    path = tmp_path / "mnv2.pth"
    torch.save(reference.state_dict(), path)
    model = build_model("mobilenet_v2", pretrained_path=str(path))
    assert torch.equal(model.features[0][0].weight, reference.features[0][0].weight)
    assert model.classifier.out_features == 2
    assert count_parameters(model) == 2_226_434


def test_mobilenet_v2_pretrained_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        build_model("mobilenet_v2", pretrained_path=str(tmp_path / "missing.pth"))
    wrong = tmp_path / "slim.pth"
    torch.save(build_model("slim_mobilenet").state_dict(), wrong)
    with pytest.raises(ValueError, match="does not fit|lacks"):
        build_model("mobilenet_v2", pretrained_path=str(wrong))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot read"):
        build_model("mobilenet_v2", pretrained_path=str(junk))
