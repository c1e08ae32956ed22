"""Data-parallel settings checked before training starts: synchronised batch norm where it can run, and one
``error:`` line for a trainer combination Lightning refuses.

``configs/ddp.yaml`` asks for ``sync_batchnorm: true``: on GPUs every process then normalises with the
statistics of the whole global batch. torch's SyncBatchNorm runs on CUDA only, and DDP refuses it on CPU
modules with a traceback from inside torch. So a config's request is kept where it can run and switched off,
with one line saying so, where it cannot (the documented CPU form ``--trainer.accelerator=cpu``); the same
request typed on the command line (``--trainer.sync_batchnorm=true``) on such a run is an error instead: the
user asked for exactly that, and it cannot be done.

Which accelerator a run gets is Lightning's own resolution (``accelerator: auto`` is a GPU when there is one).
"""

from __future__ import annotations

import sys
from typing import Any

from pytorch_lightning.trainer.connectors.accelerator_connector import _AcceleratorConnector
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from data.errors import ConfigError

SYNC_BATCHNORM_OPTION = "--trainer.sync_batchnorm"
SYNC_BATCHNORM_DEVICES = ("cuda",)  # where torch's SyncBatchNorm runs among Lightning's accelerators


def accelerator_kind(flag) -> str | None:
    """The device type Lightning runs ``accelerator=flag`` on ("cpu", "cuda", "mps", ...), by its own resolution;
    None for an accelerator given as a class (Lightning and torch judge it themselves)."""
    if not isinstance(flag, str):
        return None
    try:
        if flag == "auto":
            return _AcceleratorConnector._choose_auto_accelerator()
        if flag == "gpu":
            return _AcceleratorConnector._choose_gpu_accelerator_backend()
    except MisconfigurationException as e:  # "gpu" with none there
        raise ConfigError(f"--trainer.accelerator={flag}: no GPU is available here ({_first_line(e)})") from e
    return flag


def given_on_command_line(args: Any, option: str) -> bool:
    """Whether ``option`` (``--x.y`` or ``--x.y=v``) is among command-line ``args`` (sys.argv when None)."""
    args = sys.argv[1:] if args is None else args
    if not isinstance(args, list | tuple):
        return False  # a config dict or namespace: settings, not typed options
    return any(a == option or a.startswith(option + "=") for a in args)


def settle_sync_batchnorm(trainer_config, typed: bool) -> None:
    """Switch a config's ``sync_batchnorm`` off on a run where it cannot work, saying so on rank 0; raise
    ConfigError when it was typed on the command line (``typed``). ``trainer_config`` is the CLI's namespace."""
    if not trainer_config.get("sync_batchnorm"):
        return
    kind = accelerator_kind(trainer_config.get("accelerator", "auto"))
    if kind is None or kind in SYNC_BATCHNORM_DEVICES:
        return
    if typed:
        raise ConfigError(f"{SYNC_BATCHNORM_OPTION}=true needs CUDA GPUs (torch's SyncBatchNorm), but this run is on "
                          f"{kind}: leave it out, or run on GPUs")
    trainer_config.sync_batchnorm = False
    if rank_zero_only.rank == 0:
        print(f"note: sync_batchnorm off: this run is on {kind} and synchronised batch norm needs CUDA GPUs; "
              "each process normalises its own batch", file=sys.stderr)


def check_launch(trainer) -> None:
    """Raise ConfigError now, not at the first step, when the processes launched do not match the trainer's devices
    and nodes: e.g. ``torchrun --nproc-per-node=2`` without ``--trainer.devices=2`` (Lightning's own check, which it
    otherwise runs only when fitting starts, with a traceback from every process)."""
    environment = getattr(trainer.strategy, "cluster_environment", None)
    if environment is None:
        return
    try:
        environment.validate_settings(num_devices=trainer.num_devices, num_nodes=trainer.num_nodes)
    except ValueError as e:
        raise ConfigError(f"trainer: {_first_line(e)} (the launcher's processes per node and nodes must equal "
                          "--trainer.devices and --trainer.num_nodes)") from e


def refused_combination(e: Exception) -> ConfigError:
    """What Lightning's refusal of a trainer combination (no such GPU, too many devices, a strategy that needs GPUs,
    an unknown strategy: MisconfigurationException or ValueError from the Trainer's checks) becomes: one line."""
    return ConfigError(f"trainer: {_first_line(e)}")


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]
