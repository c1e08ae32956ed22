"""Training callbacks: a self-describing run directory, and an EMA of the weights with a warm-up."""

from __future__ import annotations

import json
import logging
import time
from functools import partial
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, Timer, WeightAveraging

from data.preprocessing import PreprocessSpec

from .errors import ConfigError
from .models import count_parameters

METRICS_FILENAME = "metrics.json"
log = logging.getLogger(__name__)


def _scalars(metrics: dict, prefix: str) -> dict[str, float]:
    return {k.removeprefix(prefix): float(v) for k, v in metrics.items() if k.startswith(prefix)}


class RunArtifacts(pl.Callback):
    """Writes ``labels.txt`` and ``preprocess.json`` when fitting starts and ``metrics.json`` after testing,
    beside the run's checkpoints (the logger's directory).

    Its counters are checkpointed, so a resumed fit reports the whole run: ``fit_seconds`` is the training time
    up to the checkpoint it resumed from plus the training time after resuming (the part of the interrupted
    epoch that was redone counts once, the restart itself not at all); ``resumed_from`` names that checkpoint
    and ``fit_seconds_before_resume`` its share.
    """

    def __init__(self):
        self._fitting = False
        self._train_started = None
        self._seconds_before_resume = 0.0
        self.fit_seconds = None
        self.train_images = 0
        self.resumed_from: str | None = None
        self.schedule: dict = {}

    @staticmethod
    def run_dir(trainer: pl.Trainer) -> Path:
        return Path(trainer.log_dir or trainer.default_root_dir)

    def setup(self, trainer, pl_module, stage):
        self._fitting = stage == "fit"
        directory = self.run_dir(trainer)  # a collective under DDP: every rank must ask
        if trainer.is_global_zero:
            directory.mkdir(parents=True, exist_ok=True)
            PreprocessSpec(input_size=pl_module.hparams.input_size).save(directory)

    def _training_seconds(self) -> float:
        running = time.perf_counter() - self._train_started if self._train_started is not None else 0.0
        return self._seconds_before_resume + running

    def state_dict(self) -> dict:
        return {"fit_seconds": self._training_seconds(), "train_images": self.train_images}

    def load_state_dict(self, state_dict: dict) -> None:
        if not self._fitting:  # testing loads the best checkpoint, whose counters are older than the run's
            return
        self._seconds_before_resume = float(state_dict["fit_seconds"])
        self.train_images = int(state_dict["train_images"])

    def on_fit_start(self, trainer, pl_module):
        self.resumed_from = str(Path(trainer.ckpt_path).resolve()) if trainer.ckpt_path else None

    def on_train_start(self, trainer, pl_module):
        self._train_started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.train_images += len(batch[1]) * trainer.world_size

    def on_fit_end(self, trainer, pl_module):
        # on_fit_end, not on_train_end: a resumed fit with nothing left to train (its max_time spent) has no train end
        self.fit_seconds = self._training_seconds()
        self._train_started = None
        self.schedule = schedule_report(trainer)
        if not self.schedule["completed"] and trainer.is_global_zero:
            log.warning("training stopped after %d of %d optimizer steps (%s): the learning-rate schedule did not "
                        "reach its end", self.schedule["steps"], self.schedule["planned_steps"], self.schedule["stopped_by"])

    def on_test_end(self, trainer, pl_module):
        directory = self.run_dir(trainer)  # a collective under DDP: every rank must ask
        if not trainer.is_global_zero:
            return
        checkpoint = trainer.checkpoint_callback
        report = {
            "arch": pl_module.hparams.arch,
            "parameters": count_parameters(pl_module.net),
            "input_size": pl_module.hparams.input_size,
            "test": _scalars(trainer.callback_metrics, "test/"),
            "best_checkpoint": str(Path(checkpoint.best_model_path).resolve()) if checkpoint and checkpoint.best_model_path else None,
            "checkpoint_monitor": checkpoint.monitor if checkpoint else None,
            "best_monitor_value": float(checkpoint.best_model_score) if checkpoint and checkpoint.best_model_score is not None else None,
            "epochs_trained": trainer.current_epoch,
            "schedule": self.schedule,
            "class_weights": None if pl_module.class_weight is None else pl_module.class_weight.tolist(),
            "train_class_counts": trainer.datamodule.class_counts("train") if trainer.datamodule else None,
            "fit_seconds": self.fit_seconds,
            "resumed_from": self.resumed_from,
            "fit_seconds_before_resume": self._seconds_before_resume if self.resumed_from else None,
            "train_images_per_second": (self.train_images / self.fit_seconds) if self.fit_seconds else None,
        }
        path = directory / METRICS_FILENAME
        path.write_text(json.dumps(report, indent=2) + "\n")


def schedule_report(trainer: pl.Trainer) -> dict:
    """Optimizer steps taken against the steps the learning-rate schedule was planned for, and what stopped
    the run early (max_time, early stopping, an interrupt) when it did not run to the end."""
    planned, steps = int(trainer.estimated_stepping_batches), int(trainer.global_step)
    stopped_by = None
    if steps < planned:
        timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
        early = next((c for c in trainer.callbacks if isinstance(c, EarlyStopping) and c.stopped_epoch), None)
        if timer is not None and timer.time_remaining() is not None and timer.time_remaining() <= 0:
            stopped_by = "max_time"
        elif early is not None:
            stopped_by = f"early stopping on {early.monitor}"
        elif trainer.interrupted:
            stopped_by = "interrupted"
        else:
            stopped_by = "should_stop"
    return {"planned_steps": planned, "steps": steps, "completed": steps >= planned, "stopped_by": stopped_by}


def ema_with_warmup(averaged: torch.Tensor, current: torch.Tensor, num_averaged: torch.Tensor, decay: float) -> torch.Tensor:
    """EMA step whose decay ramps up as (1 + n) / (10 + n) until it reaches ``decay``.

    A fixed decay keeps the random initial weights in the average for hundreds of steps; on ~750 real
    crops (23 steps an epoch) that average predicted a single class for 20 epochs.
    """
    n = float(num_averaged)
    d = min(decay, (1.0 + n) / (10.0 + n))
    return averaged * d + current * (1.0 - d)


class EMAWeights(WeightAveraging):
    """Exponential moving average of the weights (and BatchNorm statistics), with a warm-up.

    Validation, checkpoints (``state_dict``) and the final model use the average. Lightning keeps the
    averaged model after fitting, so testing the best checkpoint afterwards would reload its raw weights
    ("current_model_state"); dropping the averaged model when fitting ends makes
    ``trainer.test(ckpt_path="best")`` evaluate the averaged weights, which export also reads.
    """

    def __init__(self, decay: float = 0.99):
        if not 0.0 < decay < 1.0:
            raise ConfigError(f"EMA decay must be in (0, 1), got {decay}")
        super().__init__(avg_fn=partial(ema_with_warmup, decay=decay))

    def teardown(self, trainer, pl_module, stage):
        if stage == "fit":
            self._average_model = None

    def on_load_checkpoint(self, trainer, pl_module, checkpoint):
        if self._average_model is not None:  # resuming a fit: restore both models
            super().on_load_checkpoint(trainer, pl_module, checkpoint)
