"""Grad-CAM on the float SavedModel with ``tf.GradientTape``.

The serving signature is a single opaque call, so its last feature map is not reachable from
Python. We freeze the signature (``convert_variables_to_constants_v2`` inlines the function body
and turns captured weights into constants), find the spatial MEAN (global average pooling) by graph
structure, and import the flat graph once with ``tf.compat.v1.wrap_function``. Two pruned functions
come out of it: ``features: input -> (A, logits)`` and ``head: A -> logits``. Feeding ``A`` into
``head`` under a GradientTape gives d logit_c / d A, i.e. plain Grad-CAM:
ReLU(sum_k mean_ij(dlogit_c/dA_k) * A_k), computed by TensorFlow's own autodiff rather than from
weights we read out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from data.errors import ArtifactError
from data.preprocessing import PreprocessSpec

from .attribution import Attribution, Target, attribute_each, checked_pixels, target_or_predicted, unusable_model


class SavedModelGradCam:
    """Grad-CAM of a SavedModel's serving signature; an unusable model is an ArtifactError."""

    method = "gradcam"
    geometry = None  # where the cells sit: the PyTorch model's last layer, set by export_explainers

    def __init__(self, path: str | Path, spec: PreprocessSpec):
        self.path, self.spec = Path(path), spec
        with unusable_model(self.path):
            self._load()

    def _load(self) -> None:
        import tensorflow as tf
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

        self.tf = tf
        loaded = tf.saved_model.load(str(self.path))
        if "serving_default" not in loaded.signatures:
            raise ArtifactError(f"{self.path} has no serving_default signature")
        frozen = convert_variables_to_constants_v2(loaded.signatures["serving_default"])
        graph_def = frozen.graph.as_graph_def()
        input_name, logits_name = frozen.inputs[0].name, frozen.outputs[0].name
        mean, self.spatial_axes = _spatial_mean(graph_def, frozen.graph, self.path)
        activation_name = mean.inputs[0].name

        def _import():
            tf.compat.v1.import_graph_def(graph_def, name="")

        wrapped = tf.compat.v1.wrap_function(_import, [])
        graph = wrapped.graph
        activation, logits = graph.get_tensor_by_name(activation_name), graph.get_tensor_by_name(logits_name)
        self.features = wrapped.prune(feeds=[graph.get_tensor_by_name(input_name)], fetches=[activation, logits])
        self.head = wrapped.prune(feeds=[activation], fetches=logits)
        self.input_shape = tuple(frozen.inputs[0].shape)
        self.activation_shape = tuple(activation.shape)
        self.note = (f"tf.GradientTape Grad-CAM at the input of {mean.type} '{mean.name}' "
                     f"{list(self.activation_shape)} (frozen serving_default, pruned with wrap_function)")
        self._loaded = loaded  # keep the resources alive

    def attribute(self, pixels: np.ndarray, target: Target = None) -> Attribution:
        pixels = checked_pixels(pixels, self.spec)
        return attribute_each(self.explain_one, self.spec.to_float_nhwc(pixels), target, len(pixels),
                              self.method, self.note, self.geometry)

    def explain_one(self, x_hwc: np.ndarray, target: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """One float HWC image in [0, 1] -> (Grad-CAM (h, w), logits (classes,), explained class);
        ``target`` None explains the predicted class."""
        tf = self.tf
        activation, logits = self.features(tf.constant(x_hwc[None].astype(np.float32)))
        logits = logits.numpy()[0].astype(np.float32)
        target = target_or_predicted(target, logits)
        with tf.GradientTape() as tape:
            tape.watch(activation)
            selected = self.head(activation)[:, target]
        grads = tape.gradient(selected, activation)
        axes = list(self.spatial_axes)
        alpha = tf.reduce_mean(grads, axis=axes, keepdims=True)
        channel_axis = ({1, 2, 3} - set(axes)).pop()
        cam = tf.nn.relu(tf.reduce_sum(alpha * activation, axis=channel_axis))[0].numpy()
        return cam.astype(np.float32), logits, target


def _spatial_mean(graph_def, graph, path: Path):
    """The last Mean op that averages a 4-D tensor over two non-batch axes (global average pooling)."""
    import tensorflow as tf

    consts = {n.name: n for n in graph_def.node if n.op == "Const"}
    found = None
    for node in graph_def.node:
        if node.op != "Mean" or len(node.input) < 2:
            continue
        axes_node = consts.get(node.input[1].split(":")[0])
        op = graph.get_operation_by_name(node.name)
        if axes_node is None or op.inputs[0].shape.rank != 4:
            continue
        axes = sorted({int(a) % 4 for a in np.asarray(tf.make_ndarray(axes_node.attr["value"].tensor)).ravel()})
        if len(axes) == 2 and 0 not in axes:
            found = (op, tuple(axes))
    if found is None:
        raise ArtifactError(f"{path}: no global-average-pooling Mean over two spatial axes")
    return found
