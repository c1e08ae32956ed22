"""Stage 1: PyTorch -> ONNX (static batch 1, pinned opset), simplified, checked against PyTorch with onnxruntime.

onnx-simplifier folds constants and fuses each explicit ``Pad`` into the convolution after it. The ``tf``
conventions' stride-2 convolutions trace as a ``Pad`` built from shape arithmetic; fused, they become
convolutions padded (0, 0, 1, 1): TensorFlow's ``SAME``, which onnx2tf converts without a PAD op.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import onnxsim
import torch

from .artifacts import stage

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


@stage("ONNX")
def export_onnx(model: torch.nn.Module, input_size: int, path: Path) -> Path:
    model.eval()
    example = torch.zeros(1, 3, input_size, input_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter: stable for these nets
        warnings.filterwarnings("ignore", message="Converting a tensor to a Python integer")  # sizes are static
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")  # onnx-simplifier folds them
        torch.onnx.export(model, example, str(path), dynamo=False, opset_version=OPSET,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], do_constant_folding=True)
    simplified, checked = onnxsim.simplify(onnx.load(str(path)))
    if checked:
        onnx.save(simplified, str(path))
    return Path(path)
