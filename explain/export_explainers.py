"""The explainers of one export directory, loaded once: name -> explainer, the reference first.

At the last feature layer (the GAP input), where Grad-CAM is the exact CAM every runtime can compute:

    pytorch            TorchGradCam        model.pt            (required: the reference)
    saved_model        SavedModelGradCam   saved_model/        (optional: skipped with a note)
    tflite_int8        TFLiteCam (CAM)     model_int8.tflite   (required: what the Edge TPU runs)

At an earlier layer (or with ``occlusion``) the int8 model has no gradients and no exact CAM there, so its
verdict comes from a perturbation method that both sides run alike:

    pytorch            TorchGradCam        model.pt            (the map shown: Grad-CAM / HiResCAM at the layer)
    pytorch_occlusion  TorchOcclusion      model.pt            (the same occlusion as the int8 side)
    tflite_int8        TFLiteCam (occl.)   model_int8.tflite   (compared with pytorch_occlusion)

``pairs`` says which explainer each one is compared with: one of the same method.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from data.errors import ArtifactError
from data.preprocessing import SPEC_FILENAME, PreprocessSpec
from export.layout import ARTIFACT_FILES, PYTORCH_FILE, ExportDir
from lightning_modules.checkpoint import LoadedClassifier

from .attribution import Explainer
from .geometry import layer_geometry
from .occlusion import TorchOcclusion
from .savedmodel_gradcam import SavedModelGradCam
from .tflite_cam import TFLiteCam
from .torch_gradcam import TorchGradCam, load_torch_classifier


@dataclass
class ExportExplainers:
    root: Path
    spec: PreprocessSpec
    model: LoadedClassifier             # the trained classifier (architecture, training data settings)
    explainers: dict[str, Explainer]    # the first is the reference: every runtime explains the class it explains
    notes: list[str]                    # runtimes that were not loaded, and why
    # explainer -> another of its method to compare with (default: the reference; None: compared with none)
    compare_with: dict[str, str | None] = field(default_factory=dict)

    @property
    def pairs(self) -> dict[str, str]:
        """Explainer -> the one its maps are compared with, for every explainer but the reference that has one."""
        pairs = {name: self.compare_with.get(name, self.reference) for name in list(self.explainers)[1:]}
        return {name: other for name, other in pairs.items() if other in self.explainers}

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


def load_explainers(artifacts: str | Path, saved_model: bool = True, occlusion: bool = False,
                    layer: str | None = None, method: str | None = None, occlusion_patch: int | None = None
                    ) -> ExportExplainers:
    """PyTorch and int8 TFLite explainers (an ArtifactError when unusable) and, with ``saved_model``, the
    SavedModel's (skipped with a note when missing or unusable). ``layer``/``method``: PyTorch's map (default:
    the architecture's default layer, Grad-CAM). ``occlusion`` forces the perturbation pair even at the last
    layer; ``occlusion_patch`` (default: one cell of the PyTorch map) is its patch in pixels."""
    spec = check_export(artifacts)
    export = ExportDir(artifacts)
    loaded = load_torch_classifier(export.pytorch, spec)
    pytorch = TorchGradCam(export.pytorch, spec, layer=layer, method=method, loaded=loaded)
    explainers: dict[str, Explainer] = {"pytorch": pytorch}
    notes = []
    exact_cam = pytorch.layer.last and not occlusion
    if saved_model and exact_cam:
        path = export.artifact("saved_model")
        try:
            if not path.is_dir():
                raise ArtifactError(f"{path} missing")
            explainers["saved_model"] = SavedModelGradCam(path, spec)
            explainers["saved_model"].geometry = pytorch.geometry
        except ArtifactError as e:
            notes.append(f"saved_model: not explained ({e})")
    elif saved_model:
        notes.append(f"saved_model: not explained (its Grad-CAM is taken at the last feature layer only, not {pytorch.layer.name})")
    if exact_cam:
        last = layer_geometry(loaded.model.features, spec.input_size)
        explainers["tflite_int8"] = TFLiteCam(export.int8, spec, geometry=last)
        return ExportExplainers(export.root, spec, loaded, explainers, notes)
    patch = occlusion_patch or int(round(pytorch.geometry.stride))
    explainers["pytorch_occlusion"] = TorchOcclusion(loaded, spec, patch)
    explainers["tflite_int8"] = TFLiteCam(export.int8, spec, force_occlusion=True, occlusion_patch=patch)
    pairs = {"pytorch_occlusion": None, "tflite_int8": "pytorch_occlusion"}
    return ExportExplainers(export.root, spec, loaded, explainers, notes, pairs)
