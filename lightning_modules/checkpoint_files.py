"""How checkpoints reach the disk: atomically, and a ``last.ckpt`` with the latest state after every epoch."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.plugins.io import TorchCheckpointIO

LAST_CHECKPOINT = "last.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes a checkpoint to a temporary file beside it, flushes that to the disk and renames it over the old one,
    so a kill or a power loss at any moment leaves either the previous complete file or the new one.

    Lightning's own save writes its temporary file in the system's temp directory and moves it, which is a
    non-atomic copy when that is another file system, and it does not flush to the disk before the rename.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):  # remote storage: Lightning's own way
            return super().save_checkpoint(checkpoint, path, storage_options)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        try:
            with open(partial, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)  # only left if the write failed or was interrupted
        _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class LatestCheckpoint(ModelCheckpoint):
    """``last.ckpt``: the complete training state at the end of every training epoch (after validation), overwritten
    each time, beside the monitored best checkpoint. ``--ckpt_path RUN_DIR/checkpoints/last.ckpt`` resumes from it.

    (``ModelCheckpoint(save_last=True)`` writes last.ckpt only together with a new best since Lightning 2.6.)
    """

    def __init__(self):
        super().__init__(filename=Path(LAST_CHECKPOINT).stem, monitor=None, save_top_k=1, every_n_epochs=1,
                         save_on_train_epoch_end=True, enable_version_counter=False)
