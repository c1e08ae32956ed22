"""benchmarks.quantization_error: the simulated int8 roundings are the converter's schemes, and leave the model as
it was when they end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.quantization_error import (fold_error, round_weights, rounded_activations,
                                           stored_tensors)
from data.preprocessing import LABELS
from data.sources import synthetic_split
from lightning_modules.checkpoint import load_classifier
from lightning_modules.models import build_model
from lightning_modules.quantization import conv_bn_pairs


def trained_looking(arch: str, **kwargs) -> torch.nn.Module:
    """A model whose batch norms hold varied statistics, as a trained one does (so folding matters)."""
    torch.manual_seed(0)
    net = build_model(arch, **kwargs).eval()
    for _, _, norm in conv_bn_pairs(net):
        norm.weight.data.uniform_(-2, 2)
        norm.running_var.data.uniform_(1e-3, 5)
    return net


@pytest.mark.parametrize("arch, kwargs", [("slim_mobilenet", {}), ("mobilenet_v2", {"conventions": "tf"})])
def test_every_convolution_is_paired_with_its_batch_norm(arch, kwargs):
    net = build_model(arch, **kwargs)
    convs = [m for m in net.features.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(conv_bn_pairs(net)) == len(convs)


def test_rounded_weights_take_255_levels_per_output_channel_after_folding_and_keep_the_batch_norms():
    net = trained_looking("slim_mobilenet")
    before = {name: (conv.weight.clone(), norm.weight.clone()) for name, conv, norm in conv_bn_pairs(net)}
    round_weights(net)
    for name, conv, norm in conv_bn_pairs(net):
        weight, gamma = before[name]
        fold = (norm.weight / torch.sqrt(norm.running_var + norm.eps)).view(-1, 1, 1, 1)
        folded, original = (conv.weight * fold).flatten(1), (weight * fold).flatten(1)
        scale = original.abs().amax(1, keepdim=True) / 127
        assert torch.equal(norm.weight, gamma)
        assert ((folded - original).abs() <= scale / 2 + 1e-6).all()
        assert torch.allclose(folded / scale, torch.round(folded / scale), atol=1e-3)  # on the int8 grid
        assert not torch.equal(conv.weight, weight)


def test_rounding_one_layer_leaves_the_others_alone():
    net = trained_looking("slim_mobilenet")
    name = conv_bn_pairs(net)[3][0]
    before = {n: c.weight.clone() for n, c, _ in conv_bn_pairs(net)}
    round_weights(net, only=name)
    changed = [n for n, c, _ in conv_bn_pairs(net) if not torch.equal(c.weight, before[n])]
    assert changed == [name]


def test_rounded_activations_take_at_most_256_values_and_end_with_the_block():
    net = trained_looking("slim_mobilenet")
    x = torch.randn(8, 3, 96, 96)
    reference = net(x)
    outputs = {}
    tensors = stored_tensors(net)
    assert len(tensors) == len({id(m) for m in tensors})
    with rounded_activations(net, torch.randn(16, 3, 96, 96)):
        hooks = [m.register_forward_hook(lambda m, _, out: outputs.setdefault(m, out)) for m in tensors]
        rounded = net(x)
        for hook in hooks:
            hook.remove()
    assert all(len(torch.unique(out)) <= 256 for out in outputs.values())
    assert not torch.allclose(rounded, reference)
    assert torch.equal(net(x), reference)


def test_a_fold_of_the_tiny_export_reports_each_version_against_the_float_model(tiny_export, tmp_path):
    spec = load_classifier(tiny_export.out / "model.pt").spec
    for split, n in (("train", 24), ("val", 4), ("test", 12)):
        images = synthetic_split(split, spec, limit=n)
        for i, (pixels, label) in enumerate(zip(images.pixels, images.labels)):
            folder = tmp_path / split / LABELS[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    result = fold_error(tiny_export.out, tmp_path, per_layer=True)
    assert result["crops"] == 12
    for version in ("int8 model", "weights only", "activations only"):
        assert 0.0 <= result[version]["agreement"] <= 1.0 and result[version]["mean_abs_prob_diff"] >= 0.0
    assert set(result["per_layer"]) == {name for name, _, _ in conv_bn_pairs(load_classifier(tiny_export.out / "model.pt").model)}
    assert np.isfinite([v["mean_abs_prob_diff"] for v in result["per_layer"].values()]).all()
