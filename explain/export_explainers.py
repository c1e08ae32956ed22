"""The explainers of one export directory, loaded once: name -> explainer, the reference first.

    pytorch       TorchGradCam        model.pt              (required: the reference)
    saved_model   SavedModelGradCam   saved_model/          (optional: skipped with a note)
    tflite_int8   TFLiteCam           model_int8.tflite     (required: what the Edge TPU runs)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from data.errors import ArtifactError
from data.preprocessing import SPEC_FILENAME, PreprocessSpec
from export.layout import ARTIFACT_FILES, PYTORCH_FILE, ExportDir
from lightning_modules.checkpoint import LoadedClassifier

from .attribution import Explainer
from .savedmodel_gradcam import SavedModelGradCam
from .tflite_cam import TFLiteCam
from .torch_gradcam import TorchGradCam


@dataclass
class ExportExplainers:
    root: Path
    spec: PreprocessSpec
    model: LoadedClassifier             # the trained classifier (architecture, training data settings)
    explainers: dict[str, Explainer]    # the first is the reference: every runtime explains the class it explains
    notes: list[str]                    # runtimes that were not loaded, and why

    @property
    def reference(self) -> str:
        return next(iter(self.explainers))


def check_export(artifacts: str | Path) -> PreprocessSpec:
    """Cheap checks before anything heavy is loaded: the required files exist; returns the spec."""
    export = ExportDir(artifacts).require(PYTORCH_FILE, ARTIFACT_FILES["tflite_int8"], SPEC_FILENAME)
    try:
        return PreprocessSpec.load(export.root)
    except (ValueError, FileNotFoundError) as e:
        raise ArtifactError(str(e)) from e


def load_explainers(artifacts: str | Path, saved_model: bool = True, occlusion: bool = False) -> ExportExplainers:
    """PyTorch and int8 TFLite explainers (an ArtifactError when unusable) and, with ``saved_model``, the
    SavedModel's (skipped with a note when missing or unusable). ``occlusion`` forces occlusion
    sensitivity on the int8 model even when it has a GAP + linear head."""
    spec = check_export(artifacts)
    export = ExportDir(artifacts)
    pytorch = TorchGradCam(export.pytorch, spec)
    explainers: dict[str, Explainer] = {"pytorch": pytorch}
    notes = []
    if saved_model:
        path = export.artifact("saved_model")
        try:
            if not path.is_dir():
                raise ArtifactError(f"{path} missing")
            explainers["saved_model"] = SavedModelGradCam(path, spec)
        except ArtifactError as e:
            notes.append(f"saved_model: not explained ({e})")
    explainers["tflite_int8"] = TFLiteCam(export.int8, spec, force_occlusion=occlusion)
    return ExportExplainers(export.root, spec, pytorch.loaded, explainers, notes)
