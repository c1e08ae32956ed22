"""Class-activation maps from a (float or int8) TFLite model, without gradients.

Why the exact CAM is Grad-CAM here
----------------------------------
When the head is global average pooling followed by one fully-connected layer,
``logit_c = sum_k W[c, k] * mean_ij A_k(i, j) + b_c``, so ``d logit_c / d A_k(i, j) = W[c, k] / (h*w)``
at *every* cell. Grad-CAM's channel weight is the spatial mean of that gradient, i.e.
``W[c, k] / (h*w)``, and Grad-CAM = ``ReLU(sum_k W[c, k] * A_k / (h*w))``: the CAM of Zhou et al.
It needs only the last feature map A (the MEAN's input, kept with ``experimental_preserve_all_tensors``)
and the FC weights, both dequantized with their own scales / zero points, so it can be computed on
the int8 model, which has no gradients. Before the ReLU the cells sum to ``logit_c - b_c``.

The head is found from the graph structure (a MEAN over the two spatial axes, or a full-size
AVERAGE_POOL_2D, whose output reaches a FULLY_CONNECTED op's data input, possibly through
RESHAPE/SQUEEZE), never from tensor names. A model without that pattern gets *occlusion
sensitivity* instead (``method == "occlusion"``), and says so.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.preprocessing import PreprocessSpec
from export.edgetpu import read_model  # the project's one TFLite flatbuffer reader
from export.runtimes import TFLiteRunner

from .attribution import Attribution, Target, attribute_each, checked_pixels, target_or_predicted, unusable_model
from .geometry import MapGeometry
from .occlusion import NOTE as OCCLUSION_METHOD_NOTE
from .occlusion import occlusion_geometry, occlusion_map

PASS_THROUGH_OPS = ("RESHAPE", "SQUEEZE")
GAP_OPS = ("MEAN", "AVERAGE_POOL_2D")
DEFAULT_OCCLUSION_GRID = 8  # feature-map side assumed when the graph has no 4-D activation to go by



@dataclass
class GapLinearHead:
    """Where CAM comes from in a TFLite graph."""

    activation_index: int  # tensor index of the last feature map (the GAP input), NHWC (1, h, w, K)
    activation_shape: tuple[int, int, int]  # (h, w, K)
    activation_scale: float  # 0 for float tensors
    activation_zero_point: int
    weights: np.ndarray  # float32 (classes, K), dequantized
    bias: np.ndarray  # float32 (classes,), dequantized (zeros when the FC has no bias)
    gap_op: str
    pooled_scale: float = 0.0  # quantization step of the GAP output the FC reads (0 for float)

    def describe(self) -> str:
        h, w, k = self.activation_shape
        q = (f"int8 scale {self.activation_scale:.3g} zp {self.activation_zero_point}"
             if self.activation_scale else "float")
        return (f"{self.gap_op} -> FULLY_CONNECTED over a {h}x{w}x{k} feature map ({q}); "
                f"CAM = ReLU(W_c . A / {h * w})")


def _dequantize_const(t) -> np.ndarray:
    """A constant tensor -> float32, per-tensor or per-channel (along ``quantized_dimension``)."""
    values = np.asarray(t.values)
    if t.dtype in ("float32", "float16"):
        return values.astype(np.float32)
    if not t.scale:
        raise ValueError(f"tensor {t.name} is {t.dtype} without quantization parameters")
    scale = np.asarray(t.scale, np.float32)
    zero = np.asarray(t.zero_point or [0] * len(scale), np.float32)
    if scale.size == 1:
        return (values.astype(np.float32) - zero[0]) * scale[0]
    shape = [1] * values.ndim
    shape[t.quantized_dimension] = scale.size
    return (values.astype(np.float32) - zero.reshape(shape)) * scale.reshape(shape)


def find_gap_linear_head(path: str | Path) -> GapLinearHead | None:
    """The GAP -> FULLY_CONNECTED head of a TFLite model, or None if the graph has none."""
    _, parsed = read_model(Path(path))
    tensors, ops = parsed.tensors, parsed.ops
    producer = {out: i for i, op in enumerate(ops) for out in op[5]}
    found = None
    for name, _version, _custom, options, ins, _outs in ops:
        if name != "FULLY_CONNECTED" or len(ins) < 2 or ins[1] < 0:
            continue
        if getattr(options, "fusedActivationFunction", 0):
            continue  # a ReLU after the FC: the logit is no longer linear in A
        weights_t = tensors[ins[1]]
        if not weights_t.is_const or weights_t.values is None or len(weights_t.shape) != 2:
            continue
        src = ins[0]  # walk back from the FC's data input through shape-only ops
        while src in producer and ops[producer[src]][0] in PASS_THROUGH_OPS:
            src = ops[producer[src]][4][0]
        if src not in producer:
            continue
        gap_name, _, _, gap_options, gap_ins, _ = ops[producer[src]]
        if gap_name not in GAP_OPS:
            continue
        act = tensors[gap_ins[0]]
        if act.rank != 4 or act.shape[0] != 1:
            continue
        _, h, w, k = act.shape
        if gap_name == "MEAN":
            axes_t = tensors[gap_ins[1]] if len(gap_ins) > 1 else None
            if axes_t is None or axes_t.values is None:
                continue
            if sorted({int(a) % 4 for a in np.asarray(axes_t.values).ravel()}) != [1, 2]:
                continue
        elif (getattr(gap_options, "filterHeight", 0), getattr(gap_options, "filterWidth", 0)) != (h, w) \
                or getattr(gap_options, "fusedActivationFunction", 0):
            continue
        weights = _dequantize_const(weights_t)
        if weights.shape[1] != k:
            continue
        bias = np.zeros(weights.shape[0], np.float32)
        if len(ins) > 2 and ins[2] >= 0 and tensors[ins[2]].is_const:
            bias = _dequantize_const(tensors[ins[2]]).reshape(-1)
        scale = float(act.scale[0]) if act.scale and act.dtype in ("int8", "uint8") else 0.0
        zero = int(act.zero_point[0]) if scale and act.zero_point else 0
        pooled = tensors[src]
        pooled_scale = float(pooled.scale[0]) if scale and pooled.scale else 0.0
        found = GapLinearHead(gap_ins[0], (h, w, k), scale, zero, weights, bias, gap_name,  # keep the last
                              pooled_scale)
    return found


def feature_grid(path: str | Path, input_size: int) -> int:
    """Side of the coarsest spatial grid (>1 cell) among the 4-D activations: the feature-map cell count."""
    _, parsed = read_model(Path(path))
    sides = [t.shape[1] for t in parsed.tensors
             if not t.is_const and t.rank == 4 and t.shape[1] > 1 and t.shape[1] == t.shape[2]
             and t.shape[1] < input_size]
    return min(sides) if sides else DEFAULT_OCCLUSION_GRID


class TFLiteCam:
    """CAM (or, for other heads or when asked, occlusion sensitivity) on one float or int8 TFLite model.

    ``geometry``: where the CAM's cells sit (the PyTorch model's last layer, ``geometry.layer_geometry``);
    ``occlusion_patch``: the occlusion patch in pixels (default: one feature-map cell)."""

    def __init__(self, path: str | Path, spec: PreprocessSpec, force_occlusion: bool = False,
                 geometry: MapGeometry | None = None, occlusion_patch: int | None = None):
        self.path, self.spec = Path(path), spec
        # LiteRT warns that preserving all tensors is meant for debugging: here it is how CAM reads A
        with unusable_model(self.path), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.runner = TFLiteRunner(self.path, spec, preserve_all_tensors=True, name=self.path.stem)
            self.head = None if force_occlusion else find_gap_linear_head(self.path)
        if self.head is None:
            self.cell = occlusion_patch or int(np.ceil(spec.input_size / feature_grid(self.path, spec.input_size)))
            self.method = "occlusion"
            self.geometry = occlusion_geometry(spec.input_size, self.cell)
            why = (f"occlusion asked for on {self.path.name}" if force_occlusion else
                   f"no GAP + linear head (MEAN -> FULLY_CONNECTED) found in {self.path.name}")
            self.note = f"{why}: " + OCCLUSION_METHOD_NOTE.format(patch=self.cell)
        else:
            self.cell = int(np.ceil(spec.input_size / self.head.activation_shape[0]))
            self.method = "cam"
            self.geometry = geometry
            self.note = self.head.describe()

    def attribute(self, pixels: np.ndarray, target: Target = None) -> Attribution:
        pixels = checked_pixels(pixels, self.spec)
        return attribute_each(self.explain_one, pixels, target, len(pixels), self.method, self.note, self.geometry)

    def explain_one(self, image_uint8: np.ndarray, target: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """One HWC uint8 image -> (map, logits (classes,), explained class); ``target`` None explains
        the predicted class."""
        if self.head is None:
            logits = self.runner.logits(image_uint8[None])[0]
            target = target_or_predicted(target, logits)
            return occlusion_map(self.runner.logits, image_uint8, logits, target, self.cell), logits, target
        activations, logits = self.activations(image_uint8)
        target = target_or_predicted(target, logits)
        return cam_from_activations(activations, self.head.weights[target]), logits, target

    def _logits(self) -> np.ndarray:
        r = self.runner
        return r.dequantize(r.interpreter.get_tensor(r.output["index"]), r.output)[0]

    def activations(self, image_uint8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One HWC uint8 image -> (dequantized last feature map (h, w, K), logits (classes,))."""
        if self.head is None:
            raise ValueError(f"{self.path} has no GAP + linear head; no CAM activations to read")
        self.runner.invoke(self.runner.quantize_input(image_uint8[None])[0])
        a = self.runner.interpreter.get_tensor(self.head.activation_index)[0].astype(np.float32)
        if self.head.activation_scale:
            a = (a - self.head.activation_zero_point) * self.head.activation_scale
        return a, self._logits()


def cam_from_activations(activations_hwk: np.ndarray, class_weights: np.ndarray, relu: bool = True) -> np.ndarray:
    """ReLU(sum_k w_k * A_k / (h*w)) for one (h, w, K) feature map."""
    h, w, _ = activations_hwk.shape
    cam = activations_hwk @ np.asarray(class_weights, np.float32) / (h * w)
    return np.maximum(cam, 0.0) if relu else cam
