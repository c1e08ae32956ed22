"""Checkpoints that torch can read (weights-only) but that do not fit this project: weights of the wrong
shape, fields of the wrong type. ``load_classifier`` raises one CheckpointError line naming the file and
the first tensor or field at fault; the export CLI exits 2 with that line and writes nothing. Missing,
corrupt, foreign, unsafe-pickle and wrong-architecture checkpoints are in test_training.py; see
docs/bad_inputs.md."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from data.errors import EXIT_BAD_INPUT, CheckpointError
from lightning_modules.checkpoint import load_classifier
from lightning_modules.models import build_model

REPO = Path(__file__).resolve().parents[1]


def checkpoint(path: Path, arch: str = "slim_mobilenet", num_classes: int = 2, **fields) -> Path:
    """A checkpoint in the project's own format (as ``LoadedClassifier.save`` writes it), of a freshly built
    model; ``fields`` replace its top-level entries, ``state`` edits its weights first."""
    edit = fields.pop("state", None)
    state = {f"net.{k}": v for k, v in build_model(arch, num_classes=num_classes).state_dict().items()}
    if edit is not None:
        edit(state)
    torch.save({"hyper_parameters": {"arch": arch, "arch_kwargs": {}, "input_size": 96}, "state_dict": state,
                "preprocess": {"input_size": 96}, "datamodule_hyper_parameters": {"source": "synthetic"}, **fields},
               path)
    return path


def transpose_first_conv(state: dict) -> None:
    name = "net.features.0.0.weight"
    state[name] = state[name].transpose(0, 1).contiguous()      # 16x3x3x3 -> 3x16x3x3: same numbers, wrong shape


def one_line_error(path: Path) -> str:
    with pytest.raises(CheckpointError) as info:
        load_classifier(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message, message
    return message


def test_the_fixture_checkpoint_itself_loads(tmp_path):
    loaded = load_classifier(checkpoint(tmp_path / "fine.ckpt"))
    assert loaded.arch == "slim_mobilenet" and loaded.spec.input_size == 96


@pytest.mark.parametrize("edit, message", [
    (transpose_first_conv,
     "tensor 'features.0.0.weight' has shape 3x16x3x3 in the checkpoint but 16x3x3x3 in the model"),
    (lambda s: s.pop("net.classifier.bias"), "tensor 'classifier.bias' is missing from the checkpoint"),
    (lambda s: s.update({"net.extra.weight": torch.zeros(2)}),
     "the checkpoint has a tensor 'extra.weight' that the model does not"),
    (lambda s: s.update({"net.classifier.bias": 5}),
     "'classifier.bias' is of type int in the checkpoint, not a tensor"),
])
def test_slim_weights_that_do_not_fit_name_the_first_tensor_in_one_line(tmp_path, edit, message):
    error = one_line_error(checkpoint(tmp_path / "bad.ckpt", state=edit))
    assert f"weights do not fit a slim_mobilenet with {{}}: {message}" in error


def test_a_mobilenet_v2_with_a_3_class_head_names_the_classifier(tmp_path):
    error = one_line_error(checkpoint(tmp_path / "three.ckpt", "mobilenet_v2", num_classes=3))
    assert error.endswith("weights do not fit a mobilenet_v2 with {}: tensor 'classifier.weight' has shape 3x1280 "
                          "in the checkpoint but 2x1280 in the model (and 1 more)")


@pytest.mark.parametrize("fields, message", [
    ({"hyper_parameters": ["slim_mobilenet"]}, "hyper_parameters is a list, not a mapping"),
    ({"hyper_parameters": {"arch": ["slim_mobilenet"]}}, "unknown architecture ['slim_mobilenet']"),
    ({"state_dict": [1, 2]}, "state_dict is a list, not a mapping"),
    ({"hyper_parameters": {"arch": "slim_mobilenet", "arch_kwargs": {"bogus": 1}}},
     "cannot build its slim_mobilenet with {'bogus': 1}"),
    ({"hyper_parameters": {"arch": "slim_mobilenet", "arch_kwargs": {"width_mult": "wide"}}},
     "cannot build its slim_mobilenet with {'width_mult': 'wide'}"),
    ({"preprocess": {"input_size": 3}}, "unusable preprocessing settings: input_size must be >= 16, got 3"),
    ({"preprocess": {"input_size": "big"}}, "unusable preprocessing settings"),
    ({"datamodule_hyper_parameters": "synthetic"}, "datamodule_hyper_parameters is a str, not a mapping"),
])
def test_fields_of_the_wrong_kind_are_one_checkpoint_error(tmp_path, fields, message):
    assert message in one_line_error(checkpoint(tmp_path / "odd.ckpt", **fields))


def test_export_cli_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys):
    from export.to_tflite import main as export_main

    bad = checkpoint(tmp_path / "three.ckpt", "mobilenet_v2", num_classes=3)
    out = tmp_path / "X"
    code = export_main(["--ckpt", str(bad), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT, err[-2000:]
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {bad}: weights do not fit a mobilenet_v2 with {{}}: tensor 'classifier.weight' has "
                      "shape 3x1280 in the checkpoint but 2x1280 in the model (and 1 more)"], err[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["three.ckpt"]      # no X, no staging directory
