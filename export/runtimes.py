"""One interface over every artifact: ``runner.logits(uint8 NHWC pixels) -> float32 (N, classes)``.

Inputs are the shared preprocessing's raw pixels; each runner converts them the way its format
expects (NCHW float for PyTorch/ONNX, NHWC float for TensorFlow, quantized bytes for int8 TFLite).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from data.errors import ArtifactError, ConfigError
from data.preprocessing import PreprocessSpec

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class TorchRunner:
    name = "pytorch"

    def __init__(self, model: torch.nn.Module, spec: PreprocessSpec, batch_size: int = 64):
        self.model, self.spec, self.batch_size = model.eval(), spec, batch_size

    @torch.no_grad()
    def logits(self, pixels: np.ndarray) -> np.ndarray:
        out = [self.model(torch.from_numpy(self.spec.to_float_nchw(pixels[i:i + self.batch_size])))
               for i in range(0, len(pixels), self.batch_size)]
        return torch.cat(out).numpy()


class OnnxRunner:
    name = "onnx"

    def __init__(self, path: Path, spec: PreprocessSpec):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.spec = spec

    def logits(self, pixels: np.ndarray) -> np.ndarray:
        x = self.spec.to_float_nchw(pixels)
        return np.concatenate([self.session.run(None, {self.input_name: x[i:i + 1]})[0] for i in range(len(x))])


class SavedModelRunner:
    name = "saved_model"

    def __init__(self, path: Path, spec: PreprocessSpec):
        import tensorflow as tf

        self.tf = tf
        self.model = tf.saved_model.load(str(path))
        self.fn = self.model.signatures["serving_default"]
        self.input_name = next(iter(self.fn.structured_input_signature[1]))
        self.spec = spec

    def logits(self, pixels: np.ndarray) -> np.ndarray:
        x = self.spec.to_float_nhwc(pixels)
        outs = []
        for i in range(len(x)):
            result = self.fn(**{self.input_name: self.tf.constant(x[i:i + 1])})
            outs.append(next(iter(result.values())).numpy())
        return np.concatenate(outs)


class TFLiteRunner:
    """Runs a float or quantized .tflite with ai_edge_litert; (de)quantizes the I/O from the model's own params."""

    # op_resolver names -> ai_edge_litert OpResolverType members. int8 results differ between kernels:
    # "builtin_ref" is bit-exact with TFLM, "default" runs XNNPACK.
    OP_RESOLVERS = {"default": "AUTO", "builtin_ref": "BUILTIN_REF", "builtin": "BUILTIN_WITHOUT_DEFAULT_DELEGATES"}

    def __init__(self, path: Path, spec: PreprocessSpec, num_threads: int = 1,
                 preserve_all_tensors: bool = False, name: str | None = None,
                 op_resolver: str = "default", delegates: list | None = None):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        if op_resolver not in self.OP_RESOLVERS:
            raise ConfigError(f"op_resolver must be one of {sorted(self.OP_RESOLVERS)}, got {op_resolver!r}")
        self.path = Path(path)
        self.name = name or self.path.stem
        self.op_resolver = op_resolver
        self.interpreter = Interpreter(
            model_path=str(path), num_threads=num_threads, experimental_delegates=delegates,
            experimental_op_resolver_type=OpResolverType[self.OP_RESOLVERS[op_resolver]],
            experimental_preserve_all_tensors=preserve_all_tensors)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.spec = spec
        expected = (1, spec.input_size, spec.input_size, 3)
        if tuple(self.input["shape"]) != expected:
            raise ArtifactError(f"{path} takes input {tuple(self.input['shape'])}, the preprocessing spec says {expected}")

    @property
    def quantized_input(self) -> bool:
        return self.input["dtype"] in (np.int8, np.uint8)

    def quantize_input(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 NHWC pixels -> the model's input tensor (for int8 with scale 1/255, zero point -128: bytes - 128)."""
        x = self.spec.to_float_nhwc(pixels)
        if not self.quantized_input:
            return x
        scale, zero_point = self.input["quantization"]
        info = np.iinfo(self.input["dtype"])
        return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(self.input["dtype"])

    def dequantize(self, tensor: np.ndarray, detail: dict) -> np.ndarray:
        if detail["dtype"] in (np.int8, np.uint8):
            scale, zero_point = detail["quantization"]
            return (tensor.astype(np.float32) - zero_point) * scale
        return tensor.astype(np.float32)

    def invoke(self, quantized: np.ndarray) -> None:
        self.interpreter.set_tensor(self.input["index"], quantized[None])
        self.interpreter.invoke()

    def raw_outputs(self, model_inputs: np.ndarray) -> np.ndarray:
        """Already quantized (N, H, W, 3) inputs -> the output tensor as the model produces it (N, classes)."""
        outs = []
        for image in model_inputs:
            self.invoke(image)
            outs.append(self.interpreter.get_tensor(self.output["index"]).copy())
        return np.concatenate(outs)

    def logits(self, pixels: np.ndarray) -> np.ndarray:
        return self.dequantize(self.raw_outputs(self.quantize_input(pixels)), self.output)

    def io_quantization(self) -> dict:
        """``{"input": ..., "output": ...}``, each ``{"dtype", "shape", "scale", "zero_point"}``."""
        return {"input": describe_io(self.input), "output": describe_io(self.output)}


def describe_io(detail: dict) -> dict:
    """An input or output tensor's details (as LiteRT gives them) in plain JSON types."""
    scale, zero_point = detail["quantization"]
    return {"dtype": np.dtype(detail["dtype"]).name, "shape": [int(d) for d in detail["shape"]],
            "scale": float(scale), "zero_point": int(zero_point)}


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
