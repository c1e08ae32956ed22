"""Quantization-aware fine-tuning: training sees the int8 model's weights, and what is left is a plain checkpoint whose
weights the converter's rounding no longer changes."""

from __future__ import annotations

import json

import torch
from torch.nn.utils import parametrize

from benchmarks.quantization_error import round_weights
from conftest import fit_tiny
from lightning_modules.checkpoint import load_classifier
from lightning_modules.models import build_model
from lightning_modules.quantization import (FoldedInt8Weights, conv_bn_pairs, plain_state_dict, remove_rounding,
                                            round_weights_while_training)


def test_a_parametrized_network_computes_the_rounded_weights_and_trains_its_originals():
    torch.manual_seed(0)
    net = build_model("slim_mobilenet")
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    originals = {name: conv.weight.detach().clone() for name, conv, _ in conv_bn_pairs(net)}
    round_weights_while_training(net)
    name, conv, norm = conv_bn_pairs(net)[0]
    assert torch.equal(conv.weight, FoldedInt8Weights(norm)(originals[name]))
    assert not torch.equal(conv.weight, originals[name])
    net(torch.randn(2, 3, 96, 96)).sum().backward()
    optimizer.step()  # the Parameters the optimizer was built with are the ones that train
    assert not torch.equal(conv.parametrizations.weight.original, originals[name])
    state = plain_state_dict(net.state_dict(), net)
    assert not any("parametrizations" in key for key in state) and torch.equal(state[f"{name}.weight"], conv.weight)
    remove_rounding(net)
    assert not parametrize.is_parametrized(conv) and build_model("slim_mobilenet").load_state_dict(state)


def test_a_quantization_aware_fit_leaves_weights_the_converter_rounds_to_themselves(tmp_path, tiny_checkpoint):
    start = load_classifier(tiny_checkpoint).model
    run = fit_tiny(tmp_path, epochs=2, overrides={"model": {"init_checkpoint": str(tiny_checkpoint),
                                                            "quantization_aware": True, "lr": 1e-3}})
    trained = load_classifier(json.loads((run / "metrics.json").read_text())["best_checkpoint"]).model
    for (name, conv, norm), (_, start_conv, start_norm) in zip(conv_bn_pairs(trained), conv_bn_pairs(start)):
        assert torch.equal(norm.running_var, start_norm.running_var), f"{name}: batch-norm statistics moved"
        assert not torch.equal(conv.weight, start_conv.weight), f"{name}: not trained"
    before = {name: conv.weight.clone() for name, conv, _ in conv_bn_pairs(trained)}
    round_weights(trained)
    for name, conv, _ in conv_bn_pairs(trained):
        assert torch.allclose(conv.weight, before[name], rtol=1e-5, atol=1e-7), f"{name}: rounding changed it again"
