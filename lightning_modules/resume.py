"""Resuming an interrupted fit from ``RUN_DIR/checkpoints/last.ckpt``: which checkpoints can be resumed, into
which run directory, and what a Ctrl-C tells the user.

Lightning restores the weights, optimizer, LR scheduler, loops and every callback's state (EMA weights, the
best checkpoint's score, the ``max_time`` Timer's elapsed time, RunArtifacts' counters);
``lightning_modules.random_state`` adds the random generators.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
from jsonargparse import Namespace

from data.errors import EXIT_INTERRUPTED, CheckpointError, ToolchainError

from .checkpoint_files import LAST_CHECKPOINT, LatestCheckpoint

RESUMABLE_KEYS = ("state_dict", "hyper_parameters", "loops", "optimizer_states", "lr_schedulers")
SETTINGS_THAT_MAY_CHANGE = {("data", "num_workers")}  # loading speed only


class FitInterrupted(ToolchainError):
    """Training stopped by Ctrl-C (SIGINT); the message says how to resume."""

    exit_code = EXIT_INTERRUPTED


def _differences(section: str, saved: dict, current: dict) -> list[str]:
    missing = object()
    return [f"{section}.{key}: {saved.get(key)!r} in the checkpoint, {current.get(key)!r} now"
            for key in sorted(set(saved) | set(current))
            if (section, key) not in SETTINGS_THAT_MAY_CHANGE and saved.get(key, missing) != current.get(key, missing)]


@dataclass
class ResumePoint:
    """A ``--ckpt_path`` that was checked to be a resumable training checkpoint of this project."""

    path: Path
    run_dir: Path  # resolved: the run the checkpoint belongs to
    model_settings: dict
    data_settings: dict

    @classmethod
    def read(cls, ckpt_path: str | Path) -> ResumePoint:
        path = Path(ckpt_path)
        if not path.is_file():
            raise CheckpointError(f"--ckpt_path {path}: checkpoint not found")
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - torch raises many types for truncated or unsafe files
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise CheckpointError(f"--ckpt_path {path}: cannot read the checkpoint (truncated, corrupt or not a "
                                  f"weights-only torch file): {reason}") from e
        missing = [key for key in RESUMABLE_KEYS if not isinstance(ckpt, dict) or key not in ckpt]
        if missing:
            raise CheckpointError(f"--ckpt_path {path} is not a training checkpoint of this project that can be resumed "
                                  f"(it has no {', '.join(missing)})")
        if path.parent.name != "checkpoints":
            raise CheckpointError(f"--ckpt_path {path}: resume from the checkpoints folder of the run it belongs to "
                                  f"(RUN_DIR/checkpoints/{LAST_CHECKPOINT})")
        return cls(path, path.resolve().parent.parent, dict(ckpt["hyper_parameters"]),
                   dict(ckpt.get("datamodule_hyper_parameters") or {}))

    def point_logger_at_run(self, trainer_config: Namespace) -> None:
        """Make the logger (e.g. TensorBoard's ``save_dir/name/version_N``) continue the checkpoint's version
        instead of starting version N+1; :meth:`check_fits` then checks that this is the checkpoint's directory."""
        init_args = getattr(trainer_config.get("logger"), "init_args", None)
        if init_args is not None and "version" in init_args:
            numbered = re.fullmatch(r"version_(\d+)", self.run_dir.name)
            init_args.version = int(numbered.group(1)) if numbered else self.run_dir.name

    def check_fits(self, model: pl.LightningModule, datamodule: pl.LightningDataModule, run_dir: Path) -> None:
        """Refuse to resume into another run directory or with other model or data settings."""
        if Path(run_dir).resolve() != self.run_dir:
            raise CheckpointError(f"--ckpt_path {self.path} belongs to the run in {self.run_dir}, but these arguments "
                                  f"write to {run_dir}: resume with that run's logger settings, from its working directory")
        differences = (_differences("model", self.model_settings, dict(model.hparams))
                       + _differences("data", self.data_settings, dict(datamodule.hparams)))
        if differences:
            shown = "; ".join(differences[:3]) + (f"; and {len(differences) - 3} more" if len(differences) > 3 else "")
            raise CheckpointError(f"--ckpt_path {self.path} comes from another run configuration ({shown}): "
                                  "resume with the arguments of that run")


class RunPlan(pl.Callback):
    """Stores the optimizer steps the run plans (the LR schedule's length) with each checkpoint and refuses to resume
    a run planned for another number: the restored schedule would not match this run's epochs or steps."""

    def __init__(self):
        self.planned_steps: int | None = None
        self._checkpoint_plan: int | None = None

    def on_train_start(self, trainer, pl_module):
        self.planned_steps = int(trainer.estimated_stepping_batches)
        if self._checkpoint_plan is not None and self._checkpoint_plan != self.planned_steps:
            raise CheckpointError(
                f"--ckpt_path {trainer.ckpt_path} comes from a run planned for {self._checkpoint_plan} optimizer steps, "
                f"these arguments plan {self.planned_steps} (other max_epochs, max_steps, batch size, devices or "
                "accumulate_grad_batches): resume with the arguments of that run")

    def state_dict(self) -> dict:
        return {"planned_steps": self.planned_steps}

    def load_state_dict(self, state_dict: dict) -> None:
        self._checkpoint_plan = state_dict.get("planned_steps")


def interrupted_message(trainer: pl.Trainer) -> str:
    """One line: where the last completed epoch's checkpoint is, and the option that resumes from it."""
    latest = next((c for c in trainer.checkpoint_callbacks if isinstance(c, LatestCheckpoint)), None)
    last = Path(latest.dirpath) / LAST_CHECKPOINT if latest is not None and latest.dirpath else None
    if last is None or not last.is_file():
        return "training interrupted before its first epoch ended: there is no checkpoint to resume from"
    return (f"training interrupted; resume from the end of its last completed epoch with "
            f"`python -m lightning_modules.fit <the same arguments> --ckpt_path {last}`")
