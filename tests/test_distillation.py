import pytest
import torch

from conftest import TINY_SIZE, fit_tiny
from data.errors import CheckpointError, ConfigError
from lightning_modules.checkpoint import load_classifier
from lightning_modules.module import HelmetClassifier


def test_student_that_matches_its_teacher_has_no_soft_loss(tiny_checkpoint):
    student = HelmetClassifier(input_size=TINY_SIZE, init_checkpoint=str(tiny_checkpoint),
                               teacher_checkpoint=str(tiny_checkpoint), distill_weight=1.0).eval()
    x = torch.rand(8, 3, TINY_SIZE, TINY_SIZE)
    logits = student(x)
    assert student.distillation.loss(logits, x, hard_loss=torch.tensor(5.0)).item() == pytest.approx(0.0, abs=1e-5)
    half = HelmetClassifier(input_size=TINY_SIZE, init_checkpoint=str(tiny_checkpoint),
                            teacher_checkpoint=str(tiny_checkpoint), distill_weight=0.5).eval()
    assert half.distillation.loss(half(x), x, hard_loss=torch.tensor(5.0)).item() == pytest.approx(2.5, abs=1e-5)


def test_teacher_guides_the_student_but_is_frozen_and_not_saved(tiny_checkpoint):
    torch.manual_seed(0)
    student = HelmetClassifier(input_size=TINY_SIZE, teacher_checkpoint=str(tiny_checkpoint)).train()
    teacher = student.distillation.teacher
    assert not teacher.training  # BatchNorm statistics of the teacher never move
    x = torch.rand(8, 3, TINY_SIZE, TINY_SIZE)
    logits = student(x)
    soft = student.distillation.soft_loss(logits, student.distillation.teacher_logits(x))
    assert soft.item() > 1e-4  # an untrained student disagrees with the trained teacher
    student.distillation.loss(logits, x, hard_loss=student.loss(logits, torch.zeros(8, dtype=torch.long))).backward()
    assert all(p.grad is not None for p in student.net.parameters())
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert all(k.startswith("net.") or k.startswith("loss.") for k in student.state_dict())


def test_distilled_run_trains_through_the_cli_at_another_input_size(tiny_checkpoint, tmp_path):
    run = fit_tiny(tmp_path, epochs=1, overrides={"data": {"image_size": 64, "synthetic_counts": {"train": 128, "val": 32, "test": 32}},
                                                  "model": {"teacher_checkpoint": str(tiny_checkpoint)}})
    student = load_classifier(run / "checkpoints" / "best.ckpt")  # strict: nothing of the teacher in it
    assert student.spec.input_size == 64
    with torch.no_grad():
        assert student.model(torch.rand(2, 3, 64, 64)).shape == (2, 2)


def test_bad_teacher_settings_get_clear_errors(tiny_checkpoint, tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        HelmetClassifier(input_size=TINY_SIZE, teacher_checkpoint=str(tmp_path / "nope.ckpt"))
    with pytest.raises(ConfigError, match="distill_weight must be in"):
        HelmetClassifier(input_size=TINY_SIZE, teacher_checkpoint=str(tiny_checkpoint), distill_weight=0.0)
    with pytest.raises(ConfigError, match="distill_temperature must be > 0"):
        HelmetClassifier(input_size=TINY_SIZE, teacher_checkpoint=str(tiny_checkpoint), distill_temperature=0.0)
    other_scale = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    other_scale["preprocess"]["scale"] = 1.0
    torch.save(other_scale, tmp_path / "other_scale.ckpt")
    with pytest.raises(CheckpointError, match=r"preprocesses differently from the student \(scale\)"):
        HelmetClassifier(input_size=TINY_SIZE, teacher_checkpoint=str(tmp_path / "other_scale.ckpt"))
