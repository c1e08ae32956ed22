"""The per-op limitation checks: each looks at one op and returns the reasons it cannot be mapped.

Which op uses which check, and the wording each implements, is in ``op_table``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .flatbuffer import _Tensor, schema

SOFTMAX_MAX_ELEMENTS = 16000
# Axes, paddings and strides have a handful of values; a "parameter" with more
# is not one the checks can read (and converting it could take very long).
_MAX_PARAMETER_VALUES = 4096


@dataclass
class _OpView:
    """What a per-op limitation check gets to look at."""

    name: str
    options: Any  # the op's builtin options object (e.g. schema.Conv2DOptionsT) or None
    inputs: list[_Tensor | None]  # None for omitted optional inputs
    outputs: list[_Tensor]

    def input(self, i: int) -> _Tensor | None:
        return self.inputs[i] if i < len(self.inputs) else None

    def options_as(self, kind: type) -> Any:
        """The builtin options if they are a ``kind``, else None.

        A corrupt file can give an op another op's options; TFLite then reads
        the options as absent, and so does the checker.
        """
        return self.options if isinstance(self.options, kind) else None


LimitCheck = Callable[[_OpView], list[str]]

_ACTIVATION_NAMES = {
    v: k for k, v in vars(schema.ActivationFunctionType).items() if not k.startswith("_")
}
_FUSED_ACTIVATION_OPTIONS = (schema.Pool2DOptionsT, schema.ConcatenationOptionsT)


def _count_non_unit(shape: Sequence[int]) -> int:
    return sum(1 for d in shape if d != 1)


def _const_ints(t: _Tensor | None) -> list[int] | None:
    if t is None or not t.is_const or t.values is None or t.values.size > _MAX_PARAMETER_VALUES:
        return None
    return [int(v) for v in np.asarray(t.values).reshape(-1)]


def no_fused_activation(view: _OpView) -> list[str]:
    options = view.options_as(_FUSED_ACTIVATION_OPTIONS)
    act = getattr(options, "fusedActivationFunction", 0) or 0
    if act != schema.ActivationFunctionType.NONE:
        return [f"limitation: {view.name} must not have a fused activation "
                f"(has {_ACTIVATION_NAMES.get(act, act)})"]
    return []


def concatenation_constant_is_zero_padding(view: _OpView) -> list[str]:
    consts = [t for t in view.inputs if t is not None and t.is_const]
    if not consts:
        return []
    reasons = []
    if len(view.inputs) != 2:
        reasons.append("limitation: CONCATENATION with a constant input must have exactly 2 inputs")
    if any(t.values is None or np.any(t.values != 0) for t in consts):
        reasons.append("limitation: CONCATENATION constant input must be all zeros")
    return reasons


def same_dilation(view: _OpView) -> list[str]:
    o = view.options_as((schema.Conv2DOptionsT, schema.DepthwiseConv2DOptionsT))
    if o is not None and o.dilationWFactor != o.dilationHFactor:
        return [f"limitation: {view.name} needs equal x/y dilation "
                f"(has {o.dilationHFactor}x{o.dilationWFactor})"]
    return []


def fully_connected_default_weights(view: _OpView) -> list[str]:
    o = view.options_as(schema.FullyConnectedOptionsT)
    if o is not None and o.weightsFormat != schema.FullyConnectedOptionsWeightsFormat.DEFAULT:
        return ["limitation: FULLY_CONNECTED weights must use the default format"]
    return []


def fully_connected_1d_output(view: _OpView) -> list[str]:
    return [f"limitation: FULLY_CONNECTED output must be 1-D (tensor {out.name} is {out.shape})"
            for out in view.outputs if _count_non_unit(out.shape) > 1]


def _reduce_axes(view: _OpView) -> tuple[_Tensor | None, list[int] | None]:
    data, axes = view.input(0), _const_ints(view.input(1))
    if data is None or axes is None:
        return data, None
    return data, sorted({a % data.rank for a in axes}) if data.rank else []


def constant_axes(view: _OpView) -> list[str]:
    if _reduce_axes(view)[1] is None:
        return [f"limitation: {view.name} reduction axes must be constant"]
    return []


def no_batch_reduction(view: _OpView) -> list[str]:
    data, axes = _reduce_axes(view)
    if axes is not None and data is not None and data.rank >= 2 and 0 in axes:
        return [f"limitation: {view.name} must not reduce the batch dimension (axes {axes})"]
    return []


def mean_z_reduction_multiple_of_4(view: _OpView) -> list[str]:
    data, axes = _reduce_axes(view)
    if data is not None and axes and data.rank >= 2 and (data.rank - 1) in axes:
        depth = data.shape[-1]
        if depth % 4:
            return ["limitation: MEAN over the channel (z) dimension needs a multiple "
                    f"of 4 channels (has {depth})"]
    return []


def constant_paddings(view: _OpView) -> list[str]:
    return [] if _const_ints(view.input(1)) is not None else ["limitation: PAD paddings must be constant"]


def no_batch_padding(view: _OpView) -> list[str]:
    pads, data = _const_ints(view.input(1)), view.input(0)
    if pads is not None and data is not None and data.rank >= 2 and any(pads[:2]):
        return [f"limitation: PAD must not pad the batch dimension (paddings {pads[:2]})"]
    return []


def no_batch_packing(view: _OpView) -> list[str]:
    o = view.options_as(schema.PackOptionsT)
    if o is not None and o.axis == 0:
        return ["limitation: PACK must not pack along the batch dimension (axis 0)"]
    return []


def constant_split_axis(view: _OpView) -> list[str]:
    axis = _const_ints(view.input(0))
    return [] if axis else ["limitation: SPLIT axis must be constant"]


def no_batch_split(view: _OpView) -> list[str]:
    axis, data = _const_ints(view.input(0)), view.input(1)
    if axis and data is not None and data.rank >= 2 and axis[0] % data.rank == 0:
        return ["limitation: SPLIT must not split the batch dimension"]
    return []


def softmax_1d_max_elements(view: _OpView) -> list[str]:
    data = view.input(0)
    if data is None:
        return []
    size = math.prod(data.shape)
    if _count_non_unit(data.shape) > 1 or size > SOFTMAX_MAX_ELEMENTS:
        return [f"limitation: SOFTMAX needs a 1-D input of at most {SOFTMAX_MAX_ELEMENTS} elements "
                f"(has {data.shape})"]
    return []


def strided_slice_unit_strides(view: _OpView) -> list[str]:
    strides = _const_ints(view.input(3))
    if strides is None or any(s != 1 for s in strides):
        return [f"limitation: STRIDED_SLICE strides must all be 1 (has {strides})"]
    return []


def strided_slice_no_ellipsis_or_new_axis(view: _OpView) -> list[str]:
    o = view.options_as(schema.StridedSliceOptionsT)
    if o is not None and (o.ellipsisMask or o.newAxisMask):
        return ["limitation: STRIDED_SLICE ellipsis_mask and new_axis_mask must be 0"]
    return []


def prelu_1d_alpha(view: _OpView) -> list[str]:
    alpha = view.input(1)
    if alpha is not None and alpha.shape and any(d != 1 for d in alpha.shape[:-1]):
        return [f"limitation: PRELU alpha must be 1-D (only the innermost dimension > 1; has {alpha.shape})"]
    return []
