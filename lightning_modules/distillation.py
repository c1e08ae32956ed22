"""Knowledge distillation (Hinton et al., 2015) from a frozen teacher checkpoint of this project.

The student learns from ``(1 - weight) * hard_loss + weight * T² * KL(teacher_T || student_T)``,
where ``_T`` is the softmax at temperature T. The teacher sees the student's training batch (after
augmentation and MixUp/CutMix), resized to its own input size when the two differ. It is held outside
the LightningModule's modules, so it is neither trained, nor switched to train mode, nor saved in the
student's checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from data.preprocessing import PreprocessSpec

from .checkpoint import CheckpointError, load_classifier
from .errors import ConfigError


class Distillation:
    def __init__(self, teacher_checkpoint: str | Path, student_spec: PreprocessSpec, weight: float = 0.5,
                 temperature: float = 2.0):
        if not 0.0 < weight <= 1.0:
            raise ConfigError(f"distill_weight must be in (0, 1], got {weight}")
        if temperature <= 0:
            raise ConfigError(f"distill_temperature must be > 0, got {temperature}")
        teacher = load_classifier(teacher_checkpoint)
        differs = {k for k, v in teacher.spec.to_dict().items()
                   if k not in ("input_size", "extra") and v != student_spec.to_dict()[k]}
        if differs:
            raise CheckpointError(f"teacher {teacher_checkpoint} preprocesses differently from the student "
                                  f"({', '.join(sorted(differs))}); its soft labels would not describe the same images")
        self.teacher = teacher.model.requires_grad_(False)  # load_classifier leaves it in eval mode
        self.teacher_size = teacher.spec.input_size
        self.weight = weight
        self.temperature = temperature

    @torch.no_grad()
    def teacher_logits(self, x: torch.Tensor) -> torch.Tensor:
        self.teacher.to(x.device)
        if x.shape[-1] != self.teacher_size or x.shape[-2] != self.teacher_size:
            x = F.interpolate(x, size=(self.teacher_size, self.teacher_size), mode="bilinear", align_corners=False,
                              antialias=True)
        return self.teacher(x.contiguous(memory_format=torch.channels_last))

    def soft_loss(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        t = self.temperature
        return F.kl_div(F.log_softmax(student_logits / t, dim=1), F.log_softmax(teacher_logits / t, dim=1),
                        log_target=True, reduction="batchmean") * t * t

    def loss(self, student_logits: torch.Tensor, x: torch.Tensor, hard_loss: torch.Tensor) -> torch.Tensor:
        soft = self.soft_loss(student_logits, self.teacher_logits(x))
        return (1.0 - self.weight) * hard_loss + self.weight * soft
