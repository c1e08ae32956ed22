"""An export directory, defined once: every file ``export/to_tflite.py`` writes and every reader looks for.

::

    DIR/
      model.pt                 the trained classifier, weights only (format below): the parity reference
      model.onnx               PyTorch -> ONNX, static batch 1, NCHW float input in [0, 1]
      saved_model/             ONNX -> TensorFlow SavedModel (onnx2tf), NHWC float input
      model_float32.tflite     SavedModel -> TFLite float32
      model_int8.tflite        SavedModel -> TFLite full int8 (Edge TPU, microcontrollers); input = camera bytes
      model_int8.cc / .h       the int8 model as a C array for TensorFlow Lite for Microcontrollers (export/mcu.py);
                               absent when TFLM has no kernel for one of the model's ops (parity.json names it)
      preprocess.json          the preprocessing spec (input size, RGB, scale, label order) ...
      labels.txt               ... and the labels in class-index order (0 = helmet, 1 = no_helmet)
      parity.json              accuracy and agreement of every runtime on the same images (export/parity.py),
                               the TFLM block (export/tflm_check.py) and, for a prepared set, ``per_dataset``
      edgetpu.json             the static Edge TPU check (and edgetpu_compiler's verdict when it ran)
      manifest.json            settings, checks, file sizes and hashes, tool versions, stage times

The directory appears in one rename only when every file is written (``export.artifacts.staged_directory``).

Parity rows (``PARITY_ROWS``) name a runtime and the kernels that computed them, not only a file: the three int8
rows run the same ``model_int8.tflite`` with LiteRT's default kernels (XNNPACK), LiteRT's reference kernels, and
TFLM's interpreter, whose int8 results differ in the last quantization steps.

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
from data.preprocessing import LABELS_FILENAME, SPEC_FILENAME, PreprocessSpec

PYTORCH_FILE = "model.pt"
# artifact -> file in the export directory, in conversion order
ARTIFACT_FILES = {
    "pytorch": PYTORCH_FILE,
    "onnx": "model.onnx",
    "saved_model": "saved_model",
    "tflite_float32": "model_float32.tflite",
    "tflite_int8": "model_int8.tflite",
}
# parity row -> the artifact it runs
PARITY_ROWS = {**{name: name for name in ARTIFACT_FILES}, "tflite_int8_ref": "tflite_int8", "tflm": "tflite_int8"}
INT8_ROWS = tuple(row for row, artifact in PARITY_ROWS.items() if artifact == "tflite_int8")
C_SOURCE, C_HEADER = "model_int8.cc", "model_int8.h"
PARITY_FILE, EDGETPU_FILE, MANIFEST_FILE = "parity.json", "edgetpu.json", "manifest.json"
SPEC_FILES = (SPEC_FILENAME, LABELS_FILENAME)


@dataclass(frozen=True)
class ExportDir:
    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    def artifact(self, name: str) -> Path:
        """The file of an artifact (``pytorch``, ``onnx``, ``saved_model``, ``tflite_float32``, ``tflite_int8``)."""
        return self.root / ARTIFACT_FILES[name]

    def row_file(self, row: str) -> Path:
        """The file a parity row runs (the int8 rows all run ``model_int8.tflite``)."""
        return self.artifact(PARITY_ROWS[row])

    pytorch = property(lambda self: self.root / PYTORCH_FILE)
    onnx = property(lambda self: self.artifact("onnx"))
    saved_model = property(lambda self: self.artifact("saved_model"))
    float32 = property(lambda self: self.artifact("tflite_float32"))
    int8 = property(lambda self: self.artifact("tflite_int8"))
    c_source = property(lambda self: self.root / C_SOURCE)
    c_header = property(lambda self: self.root / C_HEADER)
    parity = property(lambda self: self.root / PARITY_FILE)
    edgetpu = property(lambda self: self.root / EDGETPU_FILE)
    manifest = property(lambda self: self.root / MANIFEST_FILE)

    @staticmethod
    def file_names(c_array: bool = True) -> set[str]:
        """The names a complete export directory holds (without the C array when TFLM cannot run the model)."""
        names = {*ARTIFACT_FILES.values(), *SPEC_FILES, PARITY_FILE, EDGETPU_FILE, MANIFEST_FILE}
        return names | {C_SOURCE, C_HEADER} if c_array else names

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

    def load_spec(self) -> PreprocessSpec:
        """The preprocessing spec saved in the directory; ArtifactError when it is missing or unreadable."""
        try:
            return PreprocessSpec.load(self.root)
        except (FileNotFoundError, ValueError) as e:
            raise ArtifactError(f"{e} (a model needs the {' and '.join(SPEC_FILES)} the export wrote beside it)") from e
