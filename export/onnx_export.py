"""Stage 1: PyTorch -> ONNX (static batch 1, pinned opset), checked against PyTorch with onnxruntime."""

from __future__ import annotations

import warnings
from pathlib import Path

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
        torch.onnx.export(model, example, str(path), dynamo=False, opset_version=OPSET,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], do_constant_folding=True)
    return Path(path)
