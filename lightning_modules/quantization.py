"""Quantization-aware fine-tuning of the weights: train the network whose weights are the int8 model's.

The converter folds each batch norm into the convolution before it and rounds the folded weights to symmetric
int8, one scale per output channel. For ImageNet MobileNetV2 that rounding alone makes the int8 model disagree with
PyTorch on 3-15 % of rider crops (``benchmarks.quantization_error``): a few channels of the first depthwise
convolution hold filters whose taps nearly cancel, and their batch norm then amplifies the rounding error.

With ``quantization_aware`` on (``HelmetClassifier``), every convolution's weight is a parametrization that returns
``round(w * f / s) * s / f`` (``f`` = gamma / sqrt(running_var + eps), ``s`` = max |w * f| / 127 per output
channel), so training sees the rounded network and adapts to it; gradients pass straight through the rounding.
Batch norms keep their statistics (eval mode), so ``f`` at export is the ``f`` trained with. Checkpoints store the
plain rounded weights (a float model like any other, which the converter then rounds to itself, to float precision),
and the parametrizations are gone when training ends.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize


def conv_bn_pairs(net: nn.Module) -> list[tuple[str, nn.Conv2d, nn.BatchNorm2d]]:
    """Every convolution followed by its batch norm (the pair the converter folds into one int8 convolution)."""
    pairs = []
    for name, module in net.named_modules():
        children = list(module.named_children())
        for (conv_name, conv), (_, norm) in zip(children, children[1:]):
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                pairs.append((f"{name}.{conv_name}".lstrip("."), conv, norm))
    return pairs


def fold_factor(norm: nn.BatchNorm2d) -> torch.Tensor:
    return (norm.weight / torch.sqrt(norm.running_var + norm.eps)).view(-1, 1, 1, 1)


def symmetric_int8(weights: torch.Tensor, per_channel: bool = True) -> torch.Tensor:
    """``weights`` rounded to symmetric int8 (one scale per output channel, or one for the tensor), straight-through."""
    detached = weights.detach().abs()
    peak = detached.flatten(1).amax(1) if per_channel else detached.max().expand(len(weights))
    scale = (peak / 127).clamp_min(1e-12).view(-1, *[1] * (weights.dim() - 1))
    rounded = torch.round(weights / scale).clamp(-127, 127) * scale
    return weights + (rounded - weights).detach()


class FoldedInt8Weights(nn.Module):
    """A convolution weight as the int8 model stores it: folded with ``norm``, rounded per channel, unfolded."""

    def __init__(self, norm: nn.BatchNorm2d):
        super().__init__()
        self._norm = [norm]  # a plain list: the batch norm stays its own module's, not a child of this one

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        factor = fold_factor(self._norm[0])
        live = factor.abs() > 1e-12
        safe = torch.where(live, factor, torch.ones_like(factor))
        return torch.where(live, symmetric_int8(weight * safe) / safe, weight)


def round_weights_while_training(net: nn.Module) -> None:
    """Put ``FoldedInt8Weights`` on every convolution/batch-norm pair of ``net`` (the same Parameter objects stay
    in the optimizer: they become each parametrization's ``original``)."""
    for _, conv, norm in conv_bn_pairs(net):
        if not parametrize.is_parametrized(conv, "weight"):
            parametrize.register_parametrization(conv, "weight", FoldedInt8Weights(norm))


def freeze_batch_norms(net: nn.Module) -> None:
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


def plain_state_dict(state: dict, module: nn.Module, prefix: str = "") -> dict:
    """``state`` (a state dict of ``module`` under ``prefix``) with each parametrized weight stored as the plain
    tensor it computes: what every loader of the project's checkpoints expects."""
    out = dict(state)
    for name, sub in module.named_modules():
        if parametrize.is_parametrized(sub, "weight"):
            key = f"{prefix}{name}." if name else prefix
            out.pop(f"{key}parametrizations.weight.original", None)
            out[f"{key}weight"] = sub.weight.detach().clone()
    return out


def remove_rounding(net: nn.Module) -> None:
    """Back to plain weights, keeping their rounded values."""
    for module in net.modules():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
