"""An export directory, defined once: every file ``export/to_tflite.py`` writes and every reader looks for.

::

    DIR/
      model.pt                 the trained classifier, weights only (format below): the parity reference
      model.onnx               PyTorch -> ONNX, static batch 1, NCHW float input in [0, 1]
      saved_model/             ONNX -> TensorFlow SavedModel (onnx2tf), NHWC float input
      model_float32.tflite     SavedModel -> TFLite float32
      model_int8.tflite        SavedModel -> TFLite full int8 (Edge TPU, microcontrollers); input = camera bytes
      model_int8.cc / .h       the int8 model as a C array for TensorFlow Lite for Microcontrollers
      preprocess.json          the preprocessing spec (input size, RGB, scale, label order) ...
      labels.txt               ... and the labels in class-index order (0 = helmet, 1 = no_helmet)
      parity.json              accuracy and agreement of every runtime on the same images
      edgetpu.json             the static Edge TPU check (and edgetpu_compiler's verdict when it ran)
      manifest.json            settings, checks, file sizes and hashes, tool versions, stage times

The directory appears in one rename only when every file is written (``export.artifacts.staged_directory``).

``model.pt`` is a ``torch.save`` dict of plain data, loadable with ``weights_only=True``
(``lightning_modules.checkpoint.load_classifier`` reads it, and Lightning checkpoints too)::

    {"hyper_parameters": {"arch": str, "arch_kwargs": dict, "input_size": int},
     "state_dict": {"net.<parameter>": tensor, ...},
     "preprocess": PreprocessSpec.to_dict(),
     "datamodule_hyper_parameters": the training data's settings (source, seed, ...)}

``arch_kwargs`` never asks for weights again: pretrained-weight options are dropped, since the trained
weights are in the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from data.errors import ArtifactError

PYTORCH_FILE = "model.pt"
# parity row -> file in the export directory, in conversion order
ARTIFACT_FILES = {
    "pytorch": PYTORCH_FILE,
    "onnx": "model.onnx",
    "saved_model": "saved_model",
    "tflite_float32": "model_float32.tflite",
    "tflite_int8": "model_int8.tflite",
}
C_SOURCE, C_HEADER = "model_int8.cc", "model_int8.h"
PARITY_FILE, EDGETPU_FILE, MANIFEST_FILE = "parity.json", "edgetpu.json", "manifest.json"
SPEC_FILES = ("preprocess.json", "labels.txt")


@dataclass(frozen=True)
class ExportDir:
    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    def artifact(self, name: str) -> Path:
        """The file of a parity row (``pytorch``, ``onnx``, ``saved_model``, ``tflite_float32``, ``tflite_int8``)."""
        return self.root / ARTIFACT_FILES[name]

    @property
    def pytorch(self) -> Path:
        return self.root / PYTORCH_FILE

    @property
    def int8(self) -> Path:
        return self.artifact("tflite_int8")

    @property
    def parity(self) -> Path:
        return self.root / PARITY_FILE

    @property
    def edgetpu(self) -> Path:
        return self.root / EDGETPU_FILE

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST_FILE

    def require(self, *names: str) -> "ExportDir":
        """Raise ArtifactError unless the directory holds these files (default: every artifact and the spec)."""
        if not self.root.is_dir():
            raise ArtifactError(f"export directory not found: {self.root}")
        wanted = names or (*ARTIFACT_FILES.values(), *SPEC_FILES)
        missing = [n for n in wanted if not (self.root / n).exists()]
        if missing:
            raise ArtifactError(f"{self.root} lacks {', '.join(missing)}: export a checkpoint there with "
                                "export/to_tflite.py first")
        return self
