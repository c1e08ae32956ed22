"""The numerical conventions a network follows: PyTorch/torchvision's, or TensorFlow/Keras's.

They decide how pretrained weights behave, so a network must run in the conventions its starting weights
were trained with (the Keras MobileNetV2 features keep only 0.42-0.52 cosine similarity to Keras's own
output at 96 px when run in torchvision's):

=====================  ==================================  ==========================================
                       ``torchvision``                     ``tf``
=====================  ==================================  ==========================================
input                  (x - ImageNet mean) / ImageNet std  x * 2 - 1 (``x/127.5 - 1`` on camera bytes)
batch-norm epsilon     1e-5                                1e-3
stride-2 convolutions  symmetric padding (k // 2)          TensorFlow's ``SAME``: on an even input the
                                                           extra row/column goes bottom/right only
=====================  ==================================  ==========================================

Both take float RGB in [0, 1] (the scaling is the in-model ``Normalize``), so preprocess.json and the
int8 model's uint8 camera-bytes input are the same under either. TFLite's own ``SAME`` convolution pads
exactly as ``tf`` does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import IMAGENET_MEAN, IMAGENET_STD, Normalize

TORCHVISION, TF = "torchvision", "tf"
CONVENTIONS = (TORCHVISION, TF)
TF_BATCHNORM_EPS = 1e-3
TF_MEAN = TF_STD = (0.5, 0.5, 0.5)


def check_conventions(conventions: str) -> str:
    if conventions not in CONVENTIONS:
        raise ValueError(f"conventions must be one of {list(CONVENTIONS)}, got {conventions!r}")
    return conventions


def input_normalization(conventions: str) -> Normalize:
    return Normalize(TF_MEAN, TF_STD) if check_conventions(conventions) == TF else Normalize(IMAGENET_MEAN, IMAGENET_STD)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's ``SAME`` padding (before, after) of one spatial dimension: the output has ceil(size / stride)
    positions, and when the total padding is odd the extra pixel goes after."""
    total = max(kernel - (stride if size % stride == 0 else size % stride), 0)
    return total // 2, total - total // 2


class Conv2dTFSame(nn.Conv2d):
    """A ``Conv2d`` padded as TensorFlow's ``SAME`` for the input it is given (PyTorch refuses ``padding="same"``
    at stride 2). The padding is worked out from the input's size, which is fixed in every export, so ONNX gets
    a constant pad (or none, for an odd input where ``SAME`` is symmetric). Parameter names are ``Conv2d``'s."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        top, bottom = same_padding(int(x.shape[-2]), kh, sh)
        left, right = same_padding(int(x.shape[-1]), kw, sw)
        if (top, bottom, left, right) != (kh // 2, kh // 2, kw // 2, kw // 2):
            x = F.pad(x, (left, right, top, bottom))
            return self._conv_forward(x, self.weight, self.bias)
        return F.conv2d(x, self.weight, self.bias, self.stride, (kh // 2, kw // 2), self.dilation, self.groups)


def apply_conventions(features: nn.Module, conventions: str) -> nn.Module:
    """``features`` switched to ``conventions`` in place (a no-op for ``torchvision``): batch-norm epsilon 1e-3 and
    TensorFlow ``SAME`` padding on every strided convolution. Returns ``features``."""
    if check_conventions(conventions) == TORCHVISION:
        return features
    for module in features.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eps = TF_BATCHNORM_EPS
        for name, child in list(module.named_children()):
            if type(child) is nn.Conv2d and max(child.stride) > 1:
                setattr(module, name, _tf_same(child))
    return features


def _tf_same(conv: nn.Conv2d) -> Conv2dTFSame:
    if conv.dilation != (1, 1) or conv.padding != (conv.kernel_size[0] // 2, conv.kernel_size[1] // 2):
        raise ValueError(f"cannot give TensorFlow SAME padding to {conv}: only undilated convolutions padded k // 2")
    same = Conv2dTFSame(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, padding=0,
                        groups=conv.groups, bias=conv.bias is not None)
    same.load_state_dict(conv.state_dict())
    return same
