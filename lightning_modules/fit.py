"""Train a helmet classifier: ``python -m lightning_modules.fit [--config configs/....yaml] [overrides]``.

With no arguments: the slim MobileNet on the built-in synthetic data, a few minutes on 2 CPU cores.
After fitting, the best checkpoint is tested and the run directory is printed.
"""

from __future__ import annotations

import sys

import torch
from jsonargparse import lazy_instance
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint, RichProgressBar
from pytorch_lightning.cli import LightningCLI
from pytorch_lightning.loggers import TensorBoardLogger

from data.datamodule import HelmetDataModule
from data.sources import DataError

from .callbacks import RunArtifacts
from .checkpoint import CheckpointError
from .errors import ConfigError
from .module import HelmetClassifier

MONITOR = "val/balanced_acc"


class HelmetCLI(LightningCLI):
    def add_arguments_to_parser(self, parser):
        parser.link_arguments("data.image_size", "model.input_size")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({
            # One stable path, overwritten on each improvement; epoch and score are in metrics.json.
            # (No last.ckpt: since Lightning 2.6 it is only written together with a new best.)
            "checkpoint.monitor": MONITOR, "checkpoint.mode": "max", "checkpoint.filename": "best",
        })
        parser.add_lightning_class_args(LearningRateMonitor, "lr_monitor")
        parser.set_defaults({"lr_monitor.logging_interval": "epoch"})
        parser.add_lightning_class_args(RichProgressBar, "progress_bar")
        parser.add_lightning_class_args(RunArtifacts, "run_artifacts")


def trainer_defaults() -> dict:
    return {
        "max_epochs": 13,
        "accelerator": "cpu",
        "log_every_n_steps": 10,
        "logger": lazy_instance(TensorBoardLogger, save_dir="runs", name="slim_mobilenet", default_hp_metric=False),
    }


def main(args: list[str] | None = None) -> str:
    try:
        cli = HelmetCLI(
            HelmetClassifier,
            HelmetDataModule,
            trainer_defaults=trainer_defaults(),
            seed_everything_default=0,
            run=False,
            args=args,
            save_config_kwargs={"overwrite": True},
        )
        cli.datamodule.setup("fit")  # load the data up front: a bad data root fails here, clearly
    except (CheckpointError, ConfigError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    ckpt = "best" if cli.trainer.checkpoint_callback and cli.trainer.checkpoint_callback.best_model_path else None
    cli.trainer.test(cli.model, datamodule=cli.datamodule, ckpt_path=ckpt)
    run_dir = str(RunArtifacts.run_dir(cli.trainer))
    if cli.trainer.is_global_zero:
        print(f"run directory: {run_dir}")
    end_distributed_run()
    return run_dir


def end_distributed_run() -> None:
    """Tear down a DDP process group while both ranks are alive. Lightning destroys only NCCL groups (at
    exit); a gloo group left to interpreter shutdown aborted 7 of 24 two-process CPU runs here
    ("terminate called without an active exception")."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
