"""Train a helmet classifier: ``python -m lightning_modules.fit [--config configs/....yaml] [overrides]``.

With no arguments: the slim MobileNet on the built-in synthetic data, a few minutes on 2 CPU cores.
After fitting, the best checkpoint is tested and the run directory is printed. An interrupted fit
(Ctrl-C, a kill, a power loss) continues with the same arguments plus
``--ckpt_path RUN_DIR/checkpoints/last.ckpt``.

From Python, the same thing without command-line strings::

    from lightning_modules.fit import fit, load_config
    result = fit(load_config("configs/real_slim_mobilenet.yaml", overrides={"data": {"source": "/path"}}))
    result.run_dir, result.metrics["test"]["balanced_acc"]
"""

from __future__ import annotations

import copy
import json
import signal
import sys
import threading
import types
import warnings
from argparse import ArgumentError
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
import yaml

# TensorBoard writes its event files through TensorFlow whenever TensorFlow is importable, which costs a fit
# ~5 s and ~0.5 GB before its first step (every DDP rank, every resumed run). Training never needs TensorFlow:
# use TensorBoard's own stub, as its no-TensorFlow build does (//tensorboard/compat:no_tensorflow).
sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))

from jsonargparse import lazy_instance  # noqa: E402 (after the switch above)
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint, RichProgressBar
from pytorch_lightning.cli import LightningCLI
from pytorch_lightning.loggers import TensorBoardLogger
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from data import errors
from data.datamodule import HelmetDataModule

from . import distributed
from .callbacks import METRICS_FILENAME, RunArtifacts
from .checkpoint_files import AtomicCheckpointIO, LatestCheckpoint
from .module import HelmetClassifier
from .random_state import RandomState
from .resume import EXIT_INTERRUPTED, FitInterrupted, ResumePoint, RunPlan, interrupted_message

MONITOR = "val/balanced_acc"


@dataclass
class FitResult:
    run_dir: Path
    metrics: dict  # the run's metrics.json ({} on DDP ranks other than 0)


class HelmetCLI(LightningCLI):
    resume: ResumePoint | None = None
    sync_batchnorm_typed = False  # --trainer.sync_batchnorm given on the command line, not by a config

    def add_arguments_to_parser(self, parser):
        parser.link_arguments("data.image_size", "model.input_size")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({
            # One stable path, overwritten on each improvement; epoch and score are in metrics.json.
            # last.ckpt (the latest state, for resuming) comes from LatestCheckpoint in trainer_defaults().
            "checkpoint.monitor": MONITOR, "checkpoint.mode": "max", "checkpoint.filename": "best",
        })
        parser.add_lightning_class_args(LearningRateMonitor, "lr_monitor")
        parser.set_defaults({"lr_monitor.logging_interval": "epoch"})
        parser.add_lightning_class_args(RichProgressBar, "progress_bar")
        parser.add_lightning_class_args(RunArtifacts, "run_artifacts")
        parser.add_argument("--ckpt_path", type=Optional[str], default=None,
                            help="continue an interrupted fit from its RUN_DIR/checkpoints/last.ckpt; give the "
                                 "run's other arguments unchanged")

    def parse_arguments(self, parser, args):
        self.sync_batchnorm_typed = distributed.given_on_command_line(args, distributed.SYNC_BATCHNORM_OPTION)
        super().parse_arguments(parser, args)

    def before_instantiate_classes(self):
        distributed.settle_sync_batchnorm(self.config.trainer, typed=self.sync_batchnorm_typed)
        if self.config.ckpt_path:
            self.resume = ResumePoint.read(self.config.ckpt_path)
            self.resume.point_logger_at_run(self.config.trainer)
            self.save_config_callback = None  # the run keeps the config.yaml it started with

    def after_instantiate_classes(self):
        if self.resume is not None:
            self.resume.check_fits(self.model, self.datamodule, RunArtifacts.run_dir(self.trainer))

    def instantiate_trainer(self, **kwargs):
        try:
            trainer = super().instantiate_trainer(**kwargs)
            distributed.check_launch(trainer)
        except (MisconfigurationException, ValueError) as e:  # Lightning refuses the accelerator, devices or strategy
            raise distributed.refused_combination(e) from e
        trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        return trainer


def trainer_defaults() -> dict:
    return {
        "max_epochs": 13,
        # A GPU when there is one, one device (never DDP by surprise), float32 unless asked (--trainer.precision).
        "accelerator": "auto",
        "devices": 1,
        "precision": "32-true",
        "log_every_n_steps": 10,
        "logger": lazy_instance(TensorBoardLogger, save_dir="runs", name="slim_mobilenet", default_hp_metric=False),
        # Always added, outside the configuration: what resuming needs.
        "callbacks": [LatestCheckpoint(), RandomState(), RunPlan()],
    }


def load_config(*yaml_paths: str | Path, overrides: dict | None = None) -> dict:
    """The YAML configs (LightningCLI's format) merged in order, then ``overrides`` on top: nested dicts merge key
    by key; anything else (a value, a list, a class_path) replaces what was there."""
    config: dict = {}
    for path in yaml_paths:
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except OSError as e:
            raise errors.ConfigError(f"cannot read config {path}: {e.strerror or e}") from e
        except yaml.YAMLError as e:
            raise errors.ConfigError(f"config {path} is not valid YAML: {str(e).splitlines()[0]}") from e
        if not isinstance(loaded, dict | None):
            raise errors.ConfigError(f"config {path} must hold a mapping of settings, got {type(loaded).__name__}")
        config = deep_merge(config, loaded or {})
    return deep_merge(config, overrides or {})


def deep_merge(base: dict, top: dict) -> dict:
    """``top`` over ``base`` as :func:`load_config` merges them (neither is modified)."""
    merged = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def fit(config: dict, ckpt_path: str | Path | None = None) -> FitResult:
    """Fit, test the best checkpoint and write metrics.json exactly as the command line does, from a config
    dict (see :func:`load_config`); ``ckpt_path`` resumes an interrupted fit of the same config.

    Raises ``data.errors.ToolchainError`` (FitInterrupted on Ctrl-C) for what the user has to fix."""
    args = copy.deepcopy(config)
    if ckpt_path is not None:
        args["ckpt_path"] = str(ckpt_path)
    return _fit_and_test(args)


def main(args: list[str] | None = None) -> str:
    try:
        result = _fit_and_test(args)
    except errors.ToolchainError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(e.exit_code) from None
    except KeyboardInterrupt:  # outside trainer.fit/test (those stop cleanly and raise FitInterrupted)
        print("error: interrupted while no training was under way; nothing to resume", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
    if rank_zero_only.rank == 0:
        print(f"run directory: {result.run_dir}")
    return str(result.run_dir)


def cli() -> int:
    """The ``helmet-fit`` console command: ``main`` with sys.argv, exit status 0 once the run is done."""
    main()
    return 0


def _fit_and_test(args: list[str] | dict | None) -> FitResult:
    """The one code path of :func:`main` (command-line strings, or sys.argv when None) and :func:`fit` (a dict)."""
    cli = _build_cli(args)
    cli.datamodule.setup("fit")  # load the data up front: a bad data root fails here, clearly
    trainer = cli.trainer
    try:
        trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=cli.resume.path if cli.resume else None,
                    weights_only=True)
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else None
        trainer.test(cli.model, datamodule=cli.datamodule, ckpt_path=best or None)
    except SystemExit:  # what Lightning turns a KeyboardInterrupt into, after stopping cleanly
        if not trainer.interrupted:
            raise
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.default_int_handler)  # Lightning left Ctrl-C ignored
        raise FitInterrupted(interrupted_message(trainer)) from None
    run_dir = RunArtifacts.run_dir(trainer)
    end_distributed_run()
    metrics_path = run_dir / METRICS_FILENAME
    metrics = json.loads(metrics_path.read_text()) if trainer.is_global_zero and metrics_path.is_file() else {}
    return FitResult(run_dir, metrics)


def _build_cli(args: list[str] | dict | None) -> HelmetCLI:
    from_dict = isinstance(args, dict)
    with warnings.catch_warnings():
        if from_dict:  # a config dict is not "args from within Python like a command line" plus sys.argv
            warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended")
        try:
            return HelmetCLI(
                HelmetClassifier,
                HelmetDataModule,
                trainer_defaults=trainer_defaults(),
                seed_everything_default=0,
                run=False,
                args=args,
                save_config_kwargs={"overwrite": True},
                parser_kwargs={"exit_on_error": False} if from_dict else None,
            )
        except ArgumentError as e:  # only raised for a dict: command-line errors print usage and exit 2
            raise errors.ConfigError(f"config: {str(e).splitlines()[0]}") from e


def end_distributed_run() -> None:
    """Tear down a DDP process group while both ranks are alive. Lightning destroys only NCCL groups (at
    exit); a gloo group left to interpreter shutdown aborted 7 of 24 two-process CPU runs here
    ("terminate called without an active exception")."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
