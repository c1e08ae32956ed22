"""Load a trained classifier from a checkpoint safely (``weights_only=True``) with clear errors."""

from __future__ import annotations

from collections.abc import Mapping
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
    """The classifier in ``path``, in eval mode. Anything wrong with the file (missing, corrupt, an unsafe
    pickle, not this project's, weights of another shape) is one CheckpointError line naming the file."""
    path = Path(path)
    ckpt = _read(path)
    hparams = _mapping(path, ckpt.get("hyper_parameters"), "hyper_parameters")
    arch = hparams.get("arch")
    if not isinstance(arch, str) or arch not in ARCHITECTURES:
        raise CheckpointError(f"{path}: unknown architecture {arch!r}; expected one of {sorted(ARCHITECTURES)}")
    if expect_arch is not None and arch != expect_arch:
        raise CheckpointError(f"{path} holds a {arch} model, expected {expect_arch}")
    arch_kwargs = dict(_mapping(path, hparams.get("arch_kwargs") or {}, "hyper_parameters.arch_kwargs"))
    for option in WEIGHT_SOURCES:  # the trained weights are in the checkpoint itself: never fetch ImageNet's again
        arch_kwargs.pop(option, None)
    spec = _spec(path, ckpt, hparams)
    try:
        model = build_model(arch, num_classes=spec.num_classes, **arch_kwargs)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: cannot build its {arch} with {arch_kwargs}: {e}") from e
    _load_weights(path, model, ckpt, f"a {arch} with {arch_kwargs}")
    model.eval()
    data = dict(_mapping(path, ckpt.get("datamodule_hyper_parameters") or {}, "datamodule_hyper_parameters"))
    return LoadedClassifier(model, arch, arch_kwargs, spec, data, path)


def _read(path: Path) -> Mapping:
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for corrupt or unsafe files
        raise CheckpointError(f"cannot read checkpoint {path} (corrupt, or not a weights-only torch file): "
                              f"{_first_line(str(e))}") from e
    if not isinstance(ckpt, Mapping) or "state_dict" not in ckpt or "hyper_parameters" not in ckpt:
        raise CheckpointError(f"{path} is not a checkpoint of this project (no state_dict/hyper_parameters)")
    return ckpt


def _mapping(path: Path, value: object, name: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise CheckpointError(f"{path} is not a checkpoint of this project: {name} is a {type(value).__name__}, "
                              "not a mapping")
    return value


def _spec(path: Path, ckpt: Mapping, hparams: Mapping) -> PreprocessSpec:
    raw = ckpt.get("preprocess") or {"input_size": hparams.get("input_size", DEFAULT_INPUT_SIZE)}
    try:
        return PreprocessSpec.from_dict(dict(_mapping(path, raw, "preprocess")))
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: unusable preprocessing settings: {e}") from e


def _load_weights(path: Path, model: torch.nn.Module, ckpt: Mapping, described: str) -> None:
    """Load ``ckpt``'s ``net.*`` tensors into ``model``; a mismatch names the first tensor that does not fit
    (torch's own message lists every one of them, over many lines)."""
    raw = _mapping(path, ckpt["state_dict"], "state_dict")
    state = {k.removeprefix("net."): v for k, v in raw.items() if isinstance(k, str) and k.startswith("net.")}
    mismatch = first_mismatch(model.state_dict(), state)
    if mismatch is not None:
        raise CheckpointError(f"{path}: weights do not fit {described}: {mismatch}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit {described}: {_first_line(str(e))}") from e


def _dims(tensor: torch.Tensor) -> str:
    return "x".join(map(str, tensor.shape)) or "() (a scalar)"


def _tensor_problem(name: str, expected: torch.Tensor, found: Mapping[str, object]) -> str | None:
    if name not in found:
        return f"tensor {name!r} is missing from the checkpoint"
    value = found[name]
    if not isinstance(value, torch.Tensor):
        return f"{name!r} is of type {type(value).__name__} in the checkpoint, not a tensor"
    if value.shape != expected.shape:
        return f"tensor {name!r} has shape {_dims(value)} in the checkpoint but {_dims(expected)} in the model"
    return None


def first_mismatch(expected: Mapping[str, torch.Tensor], found: Mapping[str, object]) -> str | None:
    """The first tensor, in the model's order, that is missing, extra or of another shape, and how many
    more there are; None when every tensor fits."""
    problems = [p for p in (_tensor_problem(name, t, found) for name, t in expected.items()) if p is not None]
    problems += [f"the checkpoint has a tensor {name!r} that the model does not"
                 for name in found if name not in expected]
    if not problems:
        return None
    return problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")


def _first_line(message: str) -> str:
    return next((line.strip() for line in message.splitlines() if line.strip()), message)
