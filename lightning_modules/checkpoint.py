"""Load a trained classifier from a checkpoint safely (``weights_only=True``) with clear errors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from data.errors import CheckpointError
from data.preprocessing import DEFAULT_INPUT_SIZE, PreprocessSpec

from .models import ARCHITECTURES, WEIGHT_SOURCES, GapLinearClassifier, build_model


@dataclass
class LoadedClassifier:
    model: GapLinearClassifier  # in eval mode
    arch: str
    arch_kwargs: dict
    spec: PreprocessSpec
    data: dict  # the data module's settings (source, seed, synthetic_counts, ...)
    path: Path

    @property
    def data_source(self) -> str:
        return self.data.get("source") or "synthetic"

    def save(self, path: str | Path) -> Path:
        """A self-contained weights-only checkpoint (what export artifacts carry for PyTorch parity)."""
        torch.save({
            "hyper_parameters": {"arch": self.arch, "arch_kwargs": self.arch_kwargs,
                                 "input_size": self.spec.input_size},
            "state_dict": {f"net.{k}": v for k, v in self.model.state_dict().items()},
            "preprocess": self.spec.to_dict(),
            "datamodule_hyper_parameters": self.data,
        }, path)
        return Path(path)


def load_classifier(path: str | Path, expect_arch: str | None = None) -> LoadedClassifier:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for corrupt or unsafe files
        raise CheckpointError(f"cannot read checkpoint {path} (corrupt, or not a weights-only torch file): {e}") from e
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "hyper_parameters" not in ckpt:
        raise CheckpointError(f"{path} is not a checkpoint of this project (no state_dict/hyper_parameters)")
    hparams = dict(ckpt["hyper_parameters"])
    arch = hparams.get("arch")
    if arch not in ARCHITECTURES:
        raise CheckpointError(f"{path}: unknown architecture {arch!r}; expected one of {sorted(ARCHITECTURES)}")
    if expect_arch is not None and arch != expect_arch:
        raise CheckpointError(f"{path} holds a {arch} model, expected {expect_arch}")
    arch_kwargs = dict(hparams.get("arch_kwargs") or {})
    for option in WEIGHT_SOURCES:  # the trained weights are in the checkpoint itself: never fetch ImageNet's again
        arch_kwargs.pop(option, None)
    spec = PreprocessSpec.from_dict(ckpt.get("preprocess") or {"input_size": hparams.get("input_size", DEFAULT_INPUT_SIZE)})
    model = build_model(arch, num_classes=spec.num_classes, **arch_kwargs)
    state = {k.removeprefix("net."): v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise CheckpointError(f"{path}: weights do not fit a {arch} with {arch_kwargs}: {first}") from e
    model.eval()
    data = dict(ckpt.get("datamodule_hyper_parameters") or {})
    return LoadedClassifier(model, arch, arch_kwargs, spec, data, path)
